"""Data-quality checks: per asset with `expectations/<asset>.json`, one check step yielding
`<asset>_expectations` (blocking ERROR: a failure stops every downstream asset of the run) and
`<asset>_warnings` (WARN). Engine: `pipelines.engine.quality_gates`."""
from __future__ import annotations

from typing import Iterable

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, MetadataValue, multi_asset_check

from pipelines.engine import registry
from pipelines.engine.quality_gates import Evaluation, available_suites, evaluate, load_suite
from assets.runtime.resources import AsmResource


def _metadata(report: dict) -> dict:
    return {k: (MetadataValue.json(v) if isinstance(v, (list, dict)) else v) for k, v in report.items()}


def check_results(ev: Evaluation) -> list[AssetCheckResult]:
    errors_name, warnings_name = ev.check_names
    return [
        AssetCheckResult(asset_key=ev.asset, check_name=errors_name, passed=not ev.failed_errors,
                         severity=AssetCheckSeverity.ERROR, metadata=_metadata(ev.report("ERROR"))),
        AssetCheckResult(asset_key=ev.asset, check_name=warnings_name, passed=all(o.passed for o in ev.warnings),
                         severity=AssetCheckSeverity.WARN, metadata=_metadata(ev.report("WARN"))),
    ]


def _suite_check(asset: str, description: str):
    @multi_asset_check(
        name=f"{asset}_dq",
        specs=[AssetCheckSpec(f"{asset}_expectations", asset=asset, blocking=True,
                              description=f"Blocking (ERROR): {description}"),
               AssetCheckSpec(f"{asset}_warnings", asset=asset, blocking=False,
                              description=f"For a human to look at (WARN): {description}")],
    )
    def _check(context, asm: AsmResource):
        yield from check_results(evaluate(asset, asm.settings(), context.run.run_id, registry.stage_of(asset).name))

    return _check


def suite_checks(asset_keys: Iterable[str]) -> list:
    """One check step per asset that has a suite; suites load (and fail) at definition time, not at 2 a.m."""
    have = set(available_suites())
    return [_suite_check(a, f"{registry.table(a).description} (contract: expectations/{a}.json)")
            for a in asset_keys if a in have and load_suite(a)]


def asset_key_names(assets: Iterable) -> list[str]:
    """Asset names (user strings) of a list of asset definitions, in order."""
    return [k.to_user_string() for a in assets for k in a.keys]
