"""Steering assets (issue 18): what to fix, each lever re-scored and ranked in points and dollars.
Engine: `pipelines.engine.steering`."""
from __future__ import annotations

import time

from dagster import MaterializeResult, MetadataValue, multi_asset

from assets._common import failure, stage_specs, written_metadata
from pipelines.engine.methodology import Methodology
from pipelines.engine.scoring.inputs import SideInputError
from pipelines.engine.steering import SOURCES, run_steering
from assets.runtime.resources import AsmResource
from pipelines.engine.warehouse import TableMissing


def steering_asset(methodology: Methodology):
    @multi_asset(name="steering", can_subset=False, specs=stage_specs(
        "steering", sources=SOURCES, methodology_fingerprint=methodology.fingerprint,
        asset_module="assets/steering.py", kinds={"polars", "parquet"}))
    def _steering(context, asm: AsmResource):
        settings, m = asm.settings(), asm.methodology()
        t0 = time.perf_counter()
        try:
            tables, info = run_steering(settings, m)
        except (TableMissing, SideInputError) as exc:
            raise failure("steering", exc) from None
        for name in ("improvement_levers", "improvement_levers_tin"):
            md = written_metadata(settings, name, tables[name])
            if name == "improvement_levers":
                md["by_kind"] = MetadataValue.json(info["by_kind"])
            md["seconds"] = round(time.perf_counter() - t0, 2)
            yield MaterializeResult(asset_key=name, metadata=md)

    return _steering
