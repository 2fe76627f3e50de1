"""Where a report comes from (issue 19 item 9), in one place: every page's footer (build.py's common page
context, base.html.j2), the workbook's 'About this file' sheet (`trace_rows`), reports/about.json and
<tin>/about.json (CSV files get no comment lines: they would break readers), the patient-information notice,
and the record `asm report` leaves in OUT (report_summary.json), like a run's run_summary.json.

The trace names the run whose tables the pages show (its id, its input digest: one SHA-256 over every input
file's name, size and SHA-256, pipelines.engine.provenance.manifest_digest), the code commit that computed them,
and the methodology (version, label and the digest of the effective settings: Methodology.fingerprint).
Inside a run these are the run's own; `asm report` reads them from the published snapshot's provenance.json."""
from __future__ import annotations

import json
import time
from pathlib import Path

from pipelines.engine.methodology import Methodology
from pipelines.engine.provenance import INPUTS_FILE, git_commit, manifest_digest
from pipelines.engine.reports.inputs import tin_folder
from pipelines.engine.settings import RunSettings
from pipelines.engine.warehouse import OutFolder, write_text

# HIPAA: claim numbers and service dates of identified episodes are protected health information.
PATIENT_NOTICE = ("Contains patient information (claim numbers and service dates): protected health information "
                  "under HIPAA; share only with people entitled to see it.")
NOT_RECORDED = "not recorded"
HOW_IT_WORKS, GLOSSARY = "how-it-works.html", "glossary.html"  # the lead's pages at the reports root
ABOUT_FILE = "about.json"


def _json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def published_provenance(settings: RunSettings) -> dict:
    """The provenance of the published tables: the current snapshot's provenance.json, else OUT's
    run_summary.json when it names that snapshot's run; {} when neither does (tables copied by hand)."""
    wh = OutFolder(settings.out_dir)
    snapshot = wh.current_snapshot()
    if snapshot is None:
        return {}
    found = _json(snapshot / "provenance.json")
    if found:
        return found
    summary = _json(wh.summary_file)
    return summary.get("provenance", {}) if summary.get("run_id") == snapshot.name else {}


def _this_run(settings: RunSettings, m: Methodology) -> dict:
    """Inside a run (run_tag set): its id, the input manifest it hashed when it started, this code."""
    manifest = _json_list(settings.staging_dir / INPUTS_FILE) if settings.staging_dir else None
    return {"run_id": settings.run_tag, "input_digest": manifest_digest(manifest) if manifest is not None else "",
            "git_commit": git_commit() or "", "methodology_version": m.version, "methodology_label": m.label,
            "methodology_fingerprint": m.fingerprint}


def _json_list(path: Path) -> list | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, list) else None


def report_trace(settings: RunSettings, m: Methodology, report_id: str = "") -> dict[str, str]:
    """The trace fields every report file carries (strings; NOT_RECORDED when unknown). `pages_*`: the code
    and methodology that drew the pages, which differ from the tables' under a later `asm report`."""
    facts = _this_run(settings, m) if settings.run_tag else published_provenance(settings)
    return {
        "run_id": facts.get("run_id") or NOT_RECORDED,
        "input_digest": facts.get("input_digest") or NOT_RECORDED,
        "code_commit": facts.get("git_commit") or NOT_RECORDED,
        "methodology_version": facts.get("methodology_version") or m.version,
        "methodology_label": facts.get("methodology_label") or m.label,
        "methodology_digest": facts.get("methodology_fingerprint") or m.fingerprint,
        "pages_code_commit": git_commit() or NOT_RECORDED,
        "pages_methodology_label": m.label,
        "report_id": report_id,
    }


def short(value: str, n: int = 12) -> str:
    """A digest or commit as a page shows it: its first n characters (a '+dirty' mark kept)."""
    if value == NOT_RECORDED:
        return value
    head, plus, mark = value.partition("+")
    return head[:n] + plus + mark


def trace_rows(common: dict, patient: bool = False) -> list[tuple[str, str]]:
    """The workbook's 'About this file' sheet: (field, value) rows from the common page context; the
    patient-information notice first when the workbook lists episodes or lines."""
    t = common["trace"]
    rows = [("Performance year", str(common["py"])),
            ("Run (whose tables this file shows)", t["run_id"]),
            ("Input digest (SHA-256 over the input files' names, sizes and contents)", t["input_digest"]),
            ("Code commit", t["code_commit"]),
            ("Methodology", t["methodology_label"]),
            ("Methodology settings digest", t["methodology_digest"])]
    if t["pages_code_commit"] != t["code_commit"]:
        rows.append(("Code commit that drew this file", t["pages_code_commit"]))
    if t["pages_methodology_label"] != t["methodology_label"]:
        rows.append(("Methodology this file's wording used", t["pages_methodology_label"]))
    if t["report_id"]:
        rows.append(("Report (asm report)", t["report_id"]))
    rows += [("Generated", common["generated"]),
             ("How this is computed", f"{HOW_IT_WORKS} in the reports folder"),
             ("Glossary", f"{GLOSSARY} in the reports folder")]
    return [("Patient information", PATIENT_NOTICE), *rows] if patient else rows


def write_about(path: Path, common: dict, **extra) -> None:
    """about.json: the trace of the files next to it (and below it), with `extra` (a TIN, which files hold
    patient information)."""
    about = {"performance_year": common["py"], **common["trace"], "generated": common["generated"],
             "how_it_works": HOW_IT_WORKS, "glossary": GLOSSARY, **extra}
    write_text(path, json.dumps(about, indent=1) + "\n")


# ------------------------------------------------------------------------------------------ asm report's record

def report_record(settings: RunSettings, report_id: str, started: float, seconds: float, info: dict | None,
                  reason: str = "", trace: dict | None = None) -> dict:
    """What `asm report` leaves in OUT (report_summary.json; also recorded in the Dagster instance): its id,
    outcome, timing, the trace of the tables it rendered (`trace` when it failed before returning one), the
    TINs rebuilt and kept, and every file it wrote under OUT/reports (relative names) with their total size."""
    info = info or {}
    files = []
    reports = settings.reports_dir
    if info:
        rebuilt = {tin_folder(t) for t in info["tins"]}
        files = sorted(p.relative_to(reports).as_posix() for p in reports.rglob("*") if p.is_file()
                       and (len(p.relative_to(reports).parts) == 1 or p.relative_to(reports).parts[0] in rebuilt))
    return {
        "report_id": report_id, "success": not reason, "reason": reason,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)), "seconds": round(seconds, 2),
        "performance_year": settings.performance_year, "trace": info.get("trace", trace or {}),
        "tins": info.get("tins", []), "carried_tins": info.get("carried_tins", 0),
        "index_tins": info.get("index_tins", 0), "privacy": info.get("privacy", {}),
        "reports_dir": str(reports), "files": files,
        "bytes": sum((reports / f).stat().st_size for f in files),
    }


def write_report_record(out_dir: Path, record: dict) -> Path:
    path = OutFolder(Path(out_dir)).report_summary_file
    write_text(path, json.dumps(record, indent=2, default=str) + "\n")
    return path


__all__ = ["ABOUT_FILE", "GLOSSARY", "HOW_IT_WORKS", "NOT_RECORDED", "PATIENT_NOTICE", "published_provenance",
           "report_record", "report_trace", "short", "trace_rows", "write_about", "write_report_record"]
