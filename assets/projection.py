"""Projection assets (V1-V4): projected scores against CMS's published MIPS benchmarks with bootstrap
intervals, next to the pool-based figures; appends the run to OUT/history. Engine: `pipelines.engine.projection`."""
from __future__ import annotations

import time

from dagster import AssetDep, MaterializeResult, MetadataValue, multi_asset

from assets._common import failure, stage_specs, table_metadata
from pipelines.engine.methodology import Methodology
from pipelines.engine.projection import (PROJECTION_INPUTS, PROJECTION_TABLES, SOURCES, ReferenceFileError, append_history,
                                  compute_projection)
from assets.runtime.resources import AsmResource
from pipelines.engine.warehouse import TableMissing

DESCRIPTIONS = {
    "projected_scores": "V1-V4 per participant: pool-based and projected (CMS benchmarks) cost points, final score, "
                        "payment factor and dollars with bootstrap intervals, sources and the figure reports lead with.",
    "projected_measure_points": "V1 per participant and required measure: pool points next to points projected on "
                                "CMS's latest published MIPS percentiles (source, year, topped out).",
    "projected_quality_benchmarks": "V1 per cohort, measure and collection type: CMS's decile boundaries used.",
    "projected_cost_benchmarks": "V2 per cohort: national average cost, spread (pool SD or DEFAULT CV), thresholds.",
    "score_waterfall": "S1 as steps per participant and figure: quality, cost, IA, PI, bonuses, clamp, final, pay.",
    "projection_tin_summary": "Per TIN and cohort: participants by status, Part B paid, dollars by figure (P4).",
}


def projection_asset(methodology: Methodology):
    @multi_asset(name="projection", can_subset=False, specs=stage_specs(
        PROJECTION_TABLES, DESCRIPTIONS, group="projection", sources=SOURCES,
        methodology_fingerprint=methodology.fingerprint, asset_module="assets/projection.py",
        kinds={"polars", "parquet"}, deps=[AssetDep(d) for d in PROJECTION_INPUTS]))
    def _projection(context, asm: AsmResource):
        settings, m = asm.settings(), asm.methodology()
        t0 = time.perf_counter()
        try:
            tables, info = compute_projection(settings, m)
        except (TableMissing, ReferenceFileError) as exc:
            raise failure("projection", exc) from None
        history = append_history(settings.out_dir, tables["projected_scores"], settings.tins)
        for name in PROJECTION_TABLES:
            n = settings.warehouse.write(name, tables[name])
            md = table_metadata(settings.table_path(name), n)
            if name == "projected_scores":
                md.update({"lead": MetadataValue.json(info["lead"]), "with_interval": info["with_interval"],
                           "draws": m.projection.bootstrap_draws, "interval_level": m.projection.interval_level,
                           "data_last_service_date": str(info["last_service_date"]),
                           "history": str(history) if history else "nothing to append"})
            if name == "projected_cost_benchmarks":
                md["reference"] = MetadataValue.json(info["cost_reference"])
            if name == "projected_quality_benchmarks":
                md["no_cms_benchmark"] = MetadataValue.json(info["no_cms_benchmark"])
            md["seconds"] = round(time.perf_counter() - t0, 2)
            yield MaterializeResult(asset_key=name, metadata=md)

    return _projection
