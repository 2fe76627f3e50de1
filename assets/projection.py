"""Projection assets (V1-V4): projected scores against CMS's published MIPS benchmarks with bootstrap
intervals, next to the pool-based figures; appends the run to OUT/history. Engine: `pipelines.engine.projection`."""
from __future__ import annotations

import time

from dagster import MaterializeResult, MetadataValue, multi_asset

from assets._common import failure, stage_specs, written_metadata
from pipelines.engine.methodology import Methodology
from pipelines.engine.projection import PROJECTION_TABLES, SOURCES, ReferenceFileError, run_projection
from assets.runtime.resources import AsmResource
from pipelines.engine.warehouse import TableMissing

def projection_asset(methodology: Methodology):
    @multi_asset(name="projection", can_subset=False, specs=stage_specs(
        "projection", sources=SOURCES, methodology_fingerprint=methodology.fingerprint,
        asset_module="assets/projection.py", kinds={"polars", "parquet"}))
    def _projection(context, asm: AsmResource):
        settings, m = asm.settings(), asm.methodology()
        t0 = time.perf_counter()
        try:
            tables, info = run_projection(settings, m)
        except (TableMissing, ReferenceFileError) as exc:
            raise failure("projection", exc) from None
        history = info["history"]
        for name in PROJECTION_TABLES:
            md = written_metadata(settings, name, tables[name])
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
