"""The Dagster code location: assets, checks, jobs, schedules and resources of asm-pipeline.

`dagster dev` / `dagster definitions validate` load `defs` (settings from ASM_* environment
variables); `asm run` builds its own with `build_definitions(settings)` and runs it in process.
"""
from __future__ import annotations

from dagster import AssetSelection, DefaultScheduleStatus, Definitions, ScheduleDefinition, define_asset_job

from assets.checks import asset_key_names, suite_checks
from assets.episodes import episodes_asset
from assets.ingest import ingest_asset
from assets.projection import projection_asset
from assets.publish import publish_asset
from assets.reports import reports_asset
from assets.scoring import eligibility_asset, episode_risk_asset, scoring_asset
from pipelines.methodology import load_methodology
from pipelines.resources import AsmResource
from pipelines.settings import RunSettings, settings_from_env

ALL_JOB = "asm_all"


def build_definitions(settings: RunSettings) -> Definitions:
    methodology = load_methodology(settings.performance_year, settings.config_file)
    assets = [ingest_asset(methodology), episodes_asset(methodology), eligibility_asset(methodology),
              episode_risk_asset(methodology), scoring_asset(methodology), projection_asset(methodology),
              reports_asset(methodology.fingerprint)]  # OUT/reports, staged like the tables, published by `publish`
    keys = asset_key_names(assets)  # issue 6: every asset with expectations/<asset>.json gets its checks,
    assets.append(publish_asset(keys))  # and `publish` (staging -> OUT/warehouse) runs after all of them
    asm_all = define_asset_job(ALL_JOB, selection=AssetSelection.all(), description="Every asset, end to end.")
    nightly = ScheduleDefinition(
        name="asm_nightly", job=asm_all, cron_schedule="0 2 * * *", default_status=DefaultScheduleStatus.STOPPED,
        description="Nightly full run (turn on in the UI or with `dagster schedule start asm_nightly`).",
    )
    return Definitions(
        assets=assets,
        asset_checks=suite_checks(keys),
        jobs=[asm_all],
        schedules=[nightly],
        resources={"asm": AsmResource.from_settings(settings)},
    )


defs = build_definitions(settings_from_env())
