"""Reports stage: the index, per-TIN scorecards (HTML with inline SVG charts, CSV, Excel, episode lines pages)
and the cohort summary, rendered from final tables, scanned for privacy, then swapped whole into the run's
reports folder. `write_reports(settings, methodology)`; `asm report` calls it without a run.

A run restricted to some TINs (`asm run --tin`, `asm report --tin`) rebuilds only those TINs' folders: the
other TINs' folders of the published OUT/reports are carried over (hard links) into the new folder before
it is swapped in, and the index and cohort summary are rebuilt over all of them, so publishing the whole
folder leaves the other TINs' scorecards in place."""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from pipelines.engine.methodology import Methodology
from pipelines.engine.reports.build import build_reports
from pipelines.engine.reports.inputs import tin_folder
from pipelines.engine.reports.privacy import PrivacyError, privacy_scan
from pipelines.engine.settings import RunSettings
from pipelines.engine.warehouse import TableMissing, swap_dir

SOURCES = ("pipelines/engine/reports", "data/reference/cms_codes")
# The tables reports read (the asset's dependencies).
REPORT_INPUTS = ("participant_scores", "payment_adjustments", "participant_measure_points", "admission_rates",
                 "tin_summary", "tin_cost_drivers", "clinician_cost_drivers", "cohort_summary", "cohort_cost_drivers", "cost_benchmarks",
                 "quality_benchmarks", "score_distribution", "eligibility", "partb_lines", "episodes",
                 "episode_attribution", "episode_costs", "episode_lines", "parta_claims", "projected_scores",
                 "projected_measure_points", "projected_cost_benchmarks", "score_waterfall", "projection_tin_summary",
                 "improvement_levers", "improvement_levers_tin", "episode_risk")
__all__ = ["REPORT_INPUTS", "SOURCES", "PrivacyError", "TableMissing", "build_reports", "privacy_scan", "tin_folder",
           "write_reports"]


def _link_copy(src: Path, dst: Path) -> None:
    """Carry a published TIN folder into the new reports folder without copying bytes (hard links;
    a plain copy where the file system has none)."""
    try:
        shutil.copytree(src, dst, copy_function=os.link)
    except OSError:
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst)


def carry_other_tins(published: Path, tmp: Path, rebuilt: list[str]) -> int:
    """Folders of TINs not rebuilt by this run, from the published reports. Returns how many."""
    if not published.is_dir():
        return 0
    keep = {tin_folder(t) for t in rebuilt}
    n = 0
    for folder in sorted(p for p in published.iterdir() if p.is_dir() and p.name not in keep):
        _link_copy(folder, tmp / folder.name)
        n += 1
    return n


def write_reports(settings: RunSettings, m: Methodology, tins: list[str] | None = None, report_id: str = "") -> dict:
    """Build the reports in a temporary folder (scanned for privacy as they are built), then swap them into
    reports_write_dir."""
    tins = tins if tins is not None else (list(settings.tins) or None)
    dst = settings.reports_write_dir
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.mkdir()
    try:
        carried = carry_other_tins(settings.reports_dir, tmp, tins) if tins else 0
        info = build_reports(settings, m, tmp, tins, report_id)  # scanned for privacy (info["privacy"])
        info["carried_tins"] = carried
        swap_dir(tmp, dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return info
