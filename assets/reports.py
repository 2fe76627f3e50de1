"""Reports asset: the index, per-TIN scorecards (HTML with charts, CSV, Excel, episode lines; only the TIN's
clinicians) and the cohort summary, staged and published with the tables. Engine: `pipelines.engine.reports`."""
from __future__ import annotations

import time

from dagster import AssetDep, MaterializeResult, MetadataValue, asset

from assets._common import code_references, failure
from pipelines.engine.provenance import SHARED_SOURCES, stage_code_version
from pipelines.engine.reports import REPORT_INPUTS, SOURCES, PrivacyError, TableMissing, write_reports
from assets.runtime.resources import AsmResource

REPORTS_ASSET = "reports"


def reports_asset(methodology_fingerprint: str = ""):
    @asset(
        name=REPORTS_ASSET,
        deps=[AssetDep(t) for t in REPORT_INPUTS],
        group_name="reports",
        description="Index of every TIN, per-TIN scorecards (HTML with offline SVG charts, CSV, Excel, episode "
                    "lines; only the TIN's clinicians) and the cohort summary; staged, published with the tables.",
        kinds={"html", "csv", "excel"},
        code_version=stage_code_version(SOURCES, methodology_fingerprint),
        metadata=code_references("assets/reports.py", (*SHARED_SOURCES, *SOURCES)),
    )
    def reports(context, asm: AsmResource):
        settings, m = asm.settings(), asm.methodology()
        t0 = time.perf_counter()
        try:
            info = write_reports(settings, m)
        except (TableMissing, PrivacyError) as exc:
            raise failure("reports", exc) from None
        scope = (f"TINs {', '.join(settings.tins)} (--tin); cohort summary covers the whole run" if settings.tins
                 else "every TIN with ASM participants")
        return MaterializeResult(metadata={
            "dagster/row_count": len(info["tins"]),
            "tin_reports": len(info["tins"]),
            "index_tins": info["index_tins"],
            "carried_tin_folders": info["carried_tins"],
            "scope": scope,
            "folder": MetadataValue.path(str(settings.reports_dir)),
            "peer_pools": MetadataValue.json(info["pools"]),
            "cost_basis": info["cost_basis"],
            "q492": "computed from Part A (Q6)" if info["part_a"] else "not scored: no Part A claims (Q6)",
            "privacy_check": (f"passed: {info['privacy']['files']} files (HTML, CSV, XLSX), no beneficiary id, no "
                              "other TIN's NPI, no NPI in the index or cohort summary"),
            "seconds": round(time.perf_counter() - t0, 2),
        })

    return reports
