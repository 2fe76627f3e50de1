"""The reports' privacy guard: no file may show a beneficiary id; a TIN's folder (and everything below it:
lines pages, workbook) may show no NPI of another TIN; files at the top (index, cohort summary) may show
no NPI at all. Every file is read as text: HTML, CSV, SVG and JSON as written, XLSX cell by cell. Tokens
are alphanumeric runs of the text."""
from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from pipelines.engine.reports.inputs import tin_folder
from pipelines.engine.reports.excel import workbook_text
from pipelines.engine.settings import RunSettings
from pipelines.engine.warehouse import scan_frame

_TOKEN = re.compile(r"[A-Za-z0-9]+")
TEXT_SUFFIXES = (".html", ".csv", ".svg", ".json", ".css", ".txt")


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


def file_text(path: Path) -> str:
    """What a person can read in a report file."""
    if path.suffix == ".xlsx":
        return workbook_text(path)
    if path.suffix in TEXT_SUFFIXES:
        return path.read_text(encoding="utf-8")
    return path.read_bytes().decode("utf-8", errors="replace")


def privacy_scan(settings: RunSettings, out_dir: Path, only: list[str] | None = None) -> dict:
    """Refuse reports that show a beneficiary id anywhere, another TIN's NPI in a TIN's folder, or any NPI
    at the top of the reports folder. `only`: the TIN folders to scan (plus the top-level files); default all."""
    bene = beneficiary_ids(settings)
    elig = settings.warehouse.read("eligibility", ["tin", "npi"])
    all_npis = set(elig["npi"].drop_nulls())
    npis_by_tin: dict[str, set] = {}
    for tin, npi in elig.iter_rows():
        npis_by_tin.setdefault(tin_folder(tin), set()).add(npi)
    scope = None if only is None else {tin_folder(t) for t in only}
    files = 0
    for f in sorted(out_dir.rglob("*")):
        rel = f.relative_to(out_dir)
        top = rel.parts[0] if len(rel.parts) > 1 else None
        if not f.is_file() or (scope is not None and top is not None and top not in scope):
            continue
        files += 1
        tokens = set(_TOKEN.findall(file_text(f)))
        if tokens & bene:
            raise PrivacyError(f"{rel} would show a beneficiary id; nothing written")
        own = npis_by_tin.get(top, set()) if top else set()
        if tokens & (all_npis - own):
            raise PrivacyError(f"{rel} would show an NPI of another TIN; nothing written")
    return {"files": files, "beneficiary_ids_checked": len(bene), "npis_checked": len(all_npis)}
