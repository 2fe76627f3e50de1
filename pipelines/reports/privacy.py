"""The reports' privacy guard: no file may show a beneficiary id; a TIN's folder may show no NPI of
another TIN; the cohort summary may show no NPI at all. Tokens are alphanumeric runs of the text."""
from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from pipelines.reports.build import tin_folder
from pipelines.settings import RunSettings
from pipelines.warehouse import scan_frame

_TOKEN = re.compile(r"[A-Za-z0-9]+")


class PrivacyError(Exception):
    pass


def beneficiary_ids(settings: RunSettings) -> set[str]:
    ids: set[str] = set()
    for table in ("partb_lines", "episodes"):
        path = settings.read_path(table)
        if path.exists():
            ids |= set(scan_frame(path).select(pl.col("bene_id").unique()).collect()["bene_id"]
                       .drop_nulls())
    return ids


def privacy_scan(settings: RunSettings, out_dir: Path) -> dict:
    """Refuse reports that show a beneficiary id anywhere, another TIN's NPI in a TIN's folder, or
    any NPI in the cohort summary."""
    bene = beneficiary_ids(settings)
    elig = settings.warehouse.read("eligibility", ["tin", "npi"])
    all_npis = set(elig["npi"].drop_nulls())
    npis_by_tin: dict[str, set] = {}
    for tin, npi in elig.iter_rows():
        npis_by_tin.setdefault(tin_folder(tin), set()).add(npi)
    files = 0
    for f in sorted(out_dir.rglob("*")):
        if not f.is_file():
            continue
        files += 1
        tokens = set(_TOKEN.findall(f.read_text(encoding="utf-8")))
        if tokens & bene:
            raise PrivacyError(f"{f.relative_to(out_dir)} would show a beneficiary id; nothing written")
        own = npis_by_tin.get(f.parent.name, set()) if f.parent != out_dir else set()
        if tokens & (all_npis - own):
            raise PrivacyError(f"{f.relative_to(out_dir)} would show an NPI of another TIN; nothing written")
    return {"files": files, "beneficiary_ids_checked": len(bene), "npis_checked": len(all_npis)}
