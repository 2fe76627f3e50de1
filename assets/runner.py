"""Run the whole asset graph (what `asm run` does): the job of the code location configured from the
run's settings through the ASM_* variables (assets.definitions), recorded in the project's Dagster
instance like a UI or scheduled run, and summarise the outcome from OUT/run_summary.json, which the
job itself writes (assets/provenance.py)."""
from __future__ import annotations

import os
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field

from assets.definitions import asm_job_from_env
from pipelines.engine.errors import explain, says_disk_full
from pipelines.engine.outfolder import OutputFolderError, OutputInUse, OutputLock, kept_staging_hint, prepare_output
from pipelines.engine.quality_gates import gx_engine
from assets.runtime.runrecord import (build_summary, event_log_held_open, instance_home, open_instance, read_summary,
                                      write_summary)
from pipelines.engine.settings import RunSettings, settings_to_env
from pipelines.engine.warehouse import OutFolder


@dataclass
class RunOutcome:
    success: bool
    seconds: float
    run_id: str = ""
    reason: str = ""  # one line, for the user, when not successful
    materialized: dict[str, dict] = field(default_factory=dict)  # asset -> metadata (plain values)
    checks: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stale_lock: str = ""  # a lock left by a killed run, taken over


def _where_outputs_are(settings: RunSettings, run_id: str) -> str:
    """For a failed run: the previous outputs are untouched; where this run's staged tables are."""
    kept = (f"previous outputs in {settings.warehouse_dir} left unchanged" if settings.warehouse_dir.exists()
            else "nothing published")
    staged = OutFolder(settings.out_dir, run_id).staging_dir
    return f" ({kept}; this run's tables: {staged})" if staged.exists() else f" ({kept})"


def _full_disk_hint(reason: str, settings: RunSettings, run_id: str) -> str:
    """A run that failed on a full disk: the earlier failed run's staging folder OUT keeps (by the
    cleaning rule), named with its size as what to remove (issue 21 item 6); else ''."""
    hint = kept_staging_hint(OutFolder(settings.out_dir, run_id)) if says_disk_full(reason) else ""
    return f"; {hint}" if hint else ""


@contextmanager
def run_environment(settings: RunSettings):
    """The ASM_* variables of `settings` for the length of the block (the job is the environment's:
    assets.definitions.asm_job_from_env), then the caller's environment as it was."""
    variables = settings_to_env(settings)
    saved = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def _execute_job(settings: RunSettings, run_id: str, instance, run_config: dict) -> bool:
    """The job of the code location configured from `settings` (assets.definitions.asm_job_from_env, the
    same Definitions `dagster dev` loads for the same ASM_* variables), run by its own executor as a UI run
    is (not `execute_in_process`, which replaces it): in this process, or with `workers` > 1 by the
    multiprocess executor, each step in its own process, which loads the job again from the ASM_*
    variables it inherits. Either executor stops the run at a failed blocking check (assets.runtime.failfast)."""
    from dagster import reconstructable
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.execution.api import execute_run

    with run_environment(settings), event_log_held_open(instance, run_id):
        job = asm_job_from_env()
        if settings.workers <= 1:
            gx_engine.preload()  # the checks' one-off import overlaps ingest instead of delaying the first check
        recon = reconstructable(asm_job_from_env)
        # Dagster memoizes a reconstructable job's definition per code pointer (one per process): without
        # this, a second run in the same process would plan with the first run's settings.
        type(recon).get_definition.cache_clear()
        run = instance.create_run_for_job(job_def=job, run_id=run_id, run_config=run_config,
                                          tags=job.run_tags, job_code_origin=recon.get_python_origin())
        # in this process, the job as built above (a reconstructable job's definition is memoized per process)
        return execute_run(recon if settings.workers > 1 else InMemoryJob(job), run, instance).success


def _execute(settings: RunSettings, run_id: str) -> dict:
    """Run the job in the project's instance; the run summary the job wrote (or, when it failed before
    any step, one written here)."""
    run_config = {"loggers": {"asm_progress": {"config": {"quiet": settings.quiet}}}}
    with open_instance(settings.out_dir) as instance:
        success = _execute_job(settings, run_id, instance, run_config)
        summary = read_summary(settings.out_dir, run_id)
        if summary is None or summary["success"] != success:  # failed before any step (e.g. resources)
            summary = build_summary(instance, run_id, settings.out_dir, success=success)
            write_summary(settings.out_dir, summary)
    return summary


def run_pipeline(settings: RunSettings) -> RunOutcome:
    """Raises OutputFolderError / OutputInUse (one line) when OUT cannot be used or fails under the run
    (full disk, read-only, permissions: also while recording the run in the instance)."""
    started = time.perf_counter()
    run_id = str(uuid.uuid4())
    try:
        prepare_output(settings.out_dir)
    except OutputFolderError as exc:
        raise OutputFolderError(f"{exc}{_full_disk_hint(str(exc), settings, run_id)}") from None
    try:
        with OutputLock(settings.out_dir, run_id) as lock:  # held for the whole run; the job's resource re-enters it
            summary = _execute(settings, run_id)
    except OutputInUse:
        raise
    except Exception as exc:  # storage and OS errors (SQLite, full disk) surface here, not as step failures
        why = explain(f"{type(exc).__name__}: {exc}", str(settings.out_dir))
        if why is None:
            raise
        raise OutputFolderError(f"{why} (while recording run {run_id} in {instance_home(settings.out_dir)})"
                                f"{_full_disk_hint(why, settings, run_id)}") from None
    outcome = RunOutcome(success=bool(summary["success"]), seconds=time.perf_counter() - started,
                         run_id=run_id, reason=summary.get("reason", ""),
                         materialized=summary.get("tables", {}), checks=summary.get("checks", []),
                         warnings=summary.get("warnings", []), stale_lock=lock.stale_message())
    if not outcome.success:
        outcome.reason = (outcome.reason or "run failed (see `dagster dev` for the event log)") + \
            _where_outputs_are(settings, run_id) + _full_disk_hint(outcome.reason, settings, run_id)
    return outcome
