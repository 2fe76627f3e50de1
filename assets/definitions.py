"""The Dagster code location: assets, checks, jobs, schedules, sensors and resources of asm-pipeline.

One static code location configured from the environment, as Dagster's reference projects do:
`dagster dev -m assets.definitions` / `dagster definitions validate` load `defs`, built from the ASM_*
variables (pipelines.engine.settings.settings_from_env). `asm run` does not build a code location of its
own: it sets the ASM_* variables from its settings and takes the job from `asm_job_from_env`, the same
cached `definitions_for_env` (in process, and in every step process of a multiprocess run), recording
the run in the same instance (assets.runtime.runrecord.open_instance). The graph depends on the
settings (one episode step per shard; the methodology in the code versions), so the Definitions are a
function of the environment, built once per distinct environment.
"""
from __future__ import annotations

from typing import Mapping

from dagster import (AssetSelection, Backoff, DefaultScheduleStatus, Definitions, ExecutorDefinition, RetryPolicy,
                     ScheduleDefinition, colored_console_logger, define_asset_job)

from assets.alerts import asm_failure_alert
from assets.checks import asset_key_names, suite_checks
from assets.episodes import episodes_asset
from assets.ingest import ingest_asset
from assets.projection import projection_asset
from assets.provenance import run_summary_asset, summary_on_failure
from assets.publish import publish_asset
from assets.reports import reports_asset
from assets.scoring import eligibility_asset, episode_risk_asset, scoring_asset
from assets.side_inputs import side_input_assets
from assets.steering import steering_asset
from pipelines.engine.registry import SIDE_INPUTS
from pipelines.engine.methodology import Methodology, load_methodology
from pipelines.engine.provenance import git_commit, run_identity
from assets.runtime.failfast import fail_fast_executor
from assets.runtime.resources import AsmResource
from assets.runtime.runrecord import TAG_PREFIX, progress_logger
from pipelines.engine.settings import RunSettings, settings_from_env, settings_to_env

ALL_JOB = "asm_all"
OBSERVE_JOB = "asm_observe_inputs"
RETRY_DELAY_SECONDS = 30  # first retry after 30 s, then 60 s, ... (transient I/O or memory pressure)


def retry_policy(retries: int) -> RetryPolicy | None:
    """Retries for transient failures. A user error (assets' `failure()`, a failed blocking check) is
    never retried: it would fail the same way."""
    return RetryPolicy(max_retries=retries, delay=RETRY_DELAY_SECONDS, backoff=Backoff.EXPONENTIAL) if retries else None


def run_tags(settings: RunSettings, methodology: Methodology) -> dict[str, str]:
    """Run-level provenance known before the run starts, as run tags (`asm/<key>`)."""
    identity = run_identity(settings.input_dir, settings.out_dir, settings.performance_year, settings.config_file,
                            methodology)
    return {f"{TAG_PREFIX}{k}": v for k, v in identity.items()}


def executor_for(settings: RunSettings) -> ExecutorDefinition:
    """One process, steps in order (as fast as it gets on a small machine: issue 11 item 2), or with
    `workers` > 1 the multiprocess executor running that many steps at once (the episode stage's
    shard steps in parallel: issue 12 item 3); either stops the run at a failed blocking check (issue 21
    item 5: assets.runtime.failfast)."""
    return fail_fast_executor(settings.workers)


def build_definitions(settings: RunSettings, methodology: Methodology | None = None) -> Definitions:
    if methodology is None:
        methodology = load_methodology(settings.performance_year, settings.config_file)
    assets = [ingest_asset(methodology), episodes_asset(methodology, settings.shards), eligibility_asset(methodology),
              episode_risk_asset(methodology), scoring_asset(methodology), projection_asset(methodology),
              steering_asset(methodology), reports_asset(methodology.fingerprint)]  # OUT/reports, staged like the tables, published by `publish`
    keys = asset_key_names(assets)  # issue 6: every asset with expectations/<asset>.json gets its checks,
    code_versions = {k.to_user_string(): v for a in assets for k, v in a.code_versions_by_key.items() if v}
    assets.append(publish_asset(keys, code_versions))  # and `publish` (staging -> snapshot) runs after all of them
    assets.append(run_summary_asset(code_versions))  # then OUT/run_summary.json
    assets.append(side_input_assets)  # the input folder's files and CMS's reference files, observed
    observe_inputs = define_asset_job(
        OBSERVE_JOB, selection=AssetSelection.keys(*SIDE_INPUTS),
        description="Observe the input folder's files and CMS's reference files: a changed file marks what is "
                    "computed from it stale in the UI.")
    asm_all = define_asset_job(
        ALL_JOB, selection=AssetSelection.all(include_sources=True),
        description="Every asset, end to end (the side inputs observed first).",
        executor_def=executor_for(settings),
        hooks={summary_on_failure(code_versions)}, op_retry_policy=retry_policy(settings.step_retries),
        run_tags=run_tags(settings, methodology),
    )
    nightly = ScheduleDefinition(
        name="asm_nightly", job=asm_all, cron_schedule="0 2 * * *", default_status=DefaultScheduleStatus.STOPPED,
        description="Nightly full run (turn on in the UI or with `dagster schedule start asm_nightly`).",
    )
    return Definitions(
        assets=assets,
        asset_checks=suite_checks(keys),
        jobs=[asm_all, observe_inputs],
        schedules=[nightly],
        sensors=[asm_failure_alert],
        resources={"asm": AsmResource.from_settings(settings)},
        executor=executor_for(settings),  # also for runs launched from the asset graph ("Materialize")
        loggers={"console": colored_console_logger, "asm_progress": progress_logger},
    )


_CACHED = 4  # Definitions kept (one per distinct environment; a test session runs many)
_definitions: dict[tuple, Definitions] = {}


def definitions_for_env(environ: Mapping[str, str] | None = None) -> Definitions:
    """The Definitions of the ASM_* variables of `environ` (default: this process's environment), built
    once per distinct value of what they depend on: the settings, the methodology's values (a config
    file edited between two runs changes the code versions) and the commit (a run tag)."""
    settings = settings_from_env(environ)
    methodology = load_methodology(settings.performance_year, settings.config_file)
    key = (tuple(sorted(settings_to_env(settings).items())), methodology.fingerprint, git_commit() or "")
    if key not in _definitions:
        while len(_definitions) >= _CACHED:
            _definitions.pop(next(iter(_definitions)))
        _definitions[key] = build_definitions(settings, methodology)
    return _definitions[key]


def asm_job_from_env():
    """The `asm_all` job of the ASM_* variables: what `asm run` executes, in process or, with
    `--workers N`, as a reconstructable job every step process loads again (the runner sets the
    variables from its settings: pipelines.engine.settings.settings_to_env)."""
    return definitions_for_env().resolve_job_def(ALL_JOB)


defs = definitions_for_env()
