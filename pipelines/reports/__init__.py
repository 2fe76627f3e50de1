"""Reports stage: per-TIN scorecards and the cohort summary, rendered from final tables, scanned for
privacy, then swapped whole into the run's reports folder. `write_reports(settings, methodology)`."""
from __future__ import annotations

import shutil
import uuid

from pipelines.methodology import Methodology
from pipelines.reports.build import build_reports, tin_folder
from pipelines.reports.privacy import PrivacyError, privacy_scan
from pipelines.settings import RunSettings
from pipelines.warehouse import TableMissing, swap_dir

SOURCES = ("pipelines/reports",)
# The tables reports read (the asset's dependencies).
REPORT_INPUTS = ("participant_scores", "payment_adjustments", "participant_measure_points", "admission_rates",
                 "tin_summary", "tin_cost_drivers", "cohort_summary", "cohort_cost_drivers", "cost_benchmarks",
                 "quality_benchmarks", "score_distribution", "eligibility", "partb_lines", "episodes")
__all__ = ["REPORT_INPUTS", "SOURCES", "PrivacyError", "TableMissing", "build_reports", "privacy_scan", "tin_folder",
           "write_reports"]


def write_reports(settings: RunSettings, m: Methodology) -> dict:
    """Build the reports in a temporary folder, scan them, then swap them into reports_write_dir."""
    dst = settings.reports_write_dir
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.mkdir()
    try:
        info = build_reports(settings, m, tmp)
        info["privacy"] = privacy_scan(settings, tmp)
        swap_dir(tmp, dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return info
