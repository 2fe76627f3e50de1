"""A run as the Dagster instance records it (Dagster side; the engine never imports this module).

- `open_instance`: the project's instance ($DAGSTER_HOME, else OUT/.dagster) that `asm run`, the UI
  and the schedule all record into;
- `event_log_held_open`: the run's SQLite event-log files kept open while `asm run` records into them
  (issue 20: each event would otherwise pay a full checkpoint of its file);
- `build_summary` / `write_summary`: OUT/run_summary.json from the run's events in the instance,
  written by the job itself (the `run_summary` asset after publish, the failure hook on a failure);
- `failure_reason`: the one line a person reads (raw library text translated by pipelines.engine.errors);
- `progress_logger`: one line per step as it starts and ends, with its elapsed time;
- `record_report`: an `asm report` (no run) as a materialization of the reports asset.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from dagster import (AssetKey, AssetMaterialization, DagsterEventType, DagsterInstance, Field, MetadataValue,
                     logger)

from pipelines.engine.errors import explain
from pipelines.engine.outfolder import UNPUBLISHED_TAG, unpublished_note
from pipelines.engine.paths import REPO_ROOT
from pipelines.engine.warehouse import INSTANCE_FOLDER, REPORT_SUMMARY_FILE, SUMMARY_FILE, write_text

INSTANCE_TEMPLATE = REPO_ROOT / "dagster.yaml"  # the one-machine settings
TAG_PREFIX = "asm/"

_EVENTS = {DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_CHECK_EVALUATION,
           DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE, DagsterEventType.STEP_SUCCESS,
           DagsterEventType.RUN_START}


# --------------------------------------------------------------------------------------------
# The instance


def instance_home(out_dir: Path) -> Path:
    """$DAGSTER_HOME when set (a team's or the daemon's instance), else OUT/.dagster."""
    home = os.environ.get("DAGSTER_HOME")
    return Path(home) if home else Path(out_dir) / INSTANCE_FOLDER


def open_instance(out_dir: Path) -> DagsterInstance:
    """The persistent instance runs are recorded in; a new home gets the project's dagster.yaml."""
    home = instance_home(out_dir).resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(INSTANCE_TEMPLATE, home / "dagster.yaml")
    return DagsterInstance.from_config(str(home))


def settle_dead_run(instance: DagsterInstance, run_id: str, why: str) -> bool:
    """A run whose process died (its OUT lock was found stale) still shows as started: mark it failed
    and free any concurrency slots it held, so the UI is right and no pool stays blocked."""
    run = instance.get_run_by_id(run_id) if run_id else None
    if run is None or run.is_finished:
        return False
    instance.report_run_failed(run, message=why)
    if instance.event_log_storage.supports_global_concurrency_limits:
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    return True


INDEX_SHARD = "index"  # the SQLite event log's cross-run file (history/runs/index.db)


@contextmanager
def event_log_held_open(instance: DagsterInstance, run_id: str):
    """For the length of the block, one idle connection to each SQLite file the run's events go to (the
    run's own file and the index). Dagster's SQLite event log opens and closes a connection per event;
    closing the last connection to a WAL database checkpoints it into the database file and deletes the
    WAL (two more fsyncs and a file deletion per event: ~2/3 of the time of the 600-odd events of a run,
    issue 20). With this connection open, that happens once, when the block ends. Nothing else changes:
    the files, their WAL mode, Dagster's synchronous commits and what the UI reads are Dagster's own.
    Other event logs (Postgres: a team's instance) are left alone."""
    storage = instance.event_log_storage
    if not (hasattr(storage, "path_for_shard") and hasattr(storage, "run_connection")):
        yield
        return
    with storage.run_connection(run_id):  # creates the run's file as its first event would
        pass
    held: list[sqlite3.Connection] = []
    try:
        for shard in (run_id, INDEX_SHARD):
            conn = sqlite3.connect(storage.path_for_shard(shard))
            conn.execute("SELECT count(*) FROM sqlite_master").fetchall()  # opens the WAL: a shared lock, no transaction
            held.append(conn)
        yield
    finally:
        for conn in held:
            conn.close()  # the last one out checkpoints, as Dagster's own close would


# --------------------------------------------------------------------------------------------
# Reading a run's events


def plain(value):
    """A metadata value as plain JSON-able data."""
    for attr in ("value", "text", "path", "data", "md_str"):
        if hasattr(value, attr):
            return getattr(value, attr)
    return value


def _events(instance: DagsterInstance, run_id: str) -> list:
    return [e.dagster_event for e in instance.all_logs(run_id, of_type=_EVENTS) if e.dagster_event]


_WRAPPERS = ("Failure", "RetryRequested", "RetryRequestedFromPolicy")


def _error_line(err, out_dir: str) -> str:
    """The innermost non-Dagster error of a chain, translated, in one line."""
    texts = []
    while err is not None:
        texts.append(f"{err.cls_name}: {err.message}")
        wrapper = "dagster" in (err.cls_name or "").lower() or err.cls_name in _WRAPPERS
        if not wrapper or err.cause is None:
            break
        err = err.cause
    raw = "\n".join(texts)
    first = (err.message if err else texts[-1]).strip().splitlines()
    return explain(raw, out_dir) or (first[0] if first else "failed")


def failure_reason(events: list, out_dir: str, checks: list[dict]) -> str:
    """The first failure as one line: a failed blocking check's summary, a step's user failure
    (asset `failure()`), or its innermost error translated (pipelines.engine.errors)."""
    blocking = [c for c in checks if not c["passed"] and c["severity"] == "ERROR"]
    if blocking:
        return blocking[0]["summary"] or f"check {blocking[0]['asset']}/{blocking[0]['check']} failed"
    for ev in events:
        if ev.event_type == DagsterEventType.STEP_FAILURE:
            data = ev.event_specific_data
            if data.user_failure_data and data.user_failure_data.description:
                return data.user_failure_data.description
            return f"{ev.step_key}: {_error_line(data.error, out_dir)}"
    for ev in events:
        if ev.event_type == DagsterEventType.RUN_FAILURE:
            data = ev.event_specific_data
            if data is not None and getattr(data, "error", None) is not None:
                return _error_line(data.error, out_dir)
            return ev.message or "run failed"
    return ""


def collect(instance: DagsterInstance, run_id: str, out_dir: str) -> dict:
    """Materializations (asset -> plain metadata), check results and the failure reason of a run."""
    events = _events(instance, run_id)
    materialized: dict[str, dict] = {}
    checks: list[dict] = []
    for ev in events:
        if ev.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            mat = ev.event_specific_data.materialization
            materialized[mat.asset_key.to_user_string()] = {
                k: plain(v) for k, v in mat.metadata.items() if not k.startswith("dagster/co")}
        elif ev.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            e = ev.event_specific_data
            checks.append({"asset": e.asset_key.to_user_string(), "check": e.check_name, "passed": e.passed,
                           "severity": str(e.severity.value) if e.severity else "",
                           "summary": plain(e.metadata.get("summary", "")) if e.metadata else ""})
    failed = any(ev.event_type in (DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE) for ev in events)
    reason = failure_reason(events, out_dir, checks)
    return {"materialized": materialized, "checks": checks, "failed": failed or bool(reason), "reason": reason}


# --------------------------------------------------------------------------------------------
# OUT/run_summary.json


def run_tags(instance: DagsterInstance, run_id: str) -> dict[str, str]:
    run = instance.get_run_by_id(run_id)
    tags = run.tags if run else {}
    return {k.removeprefix(TAG_PREFIX): v for k, v in tags.items() if k.startswith(TAG_PREFIX)}


def build_summary(instance: DagsterInstance, run_id: str, out_dir: Path, *, success: bool | None = None,
                  provenance: dict | None = None, extra: dict | None = None) -> dict:
    """The run summary: outcome, one-line reason, provenance (run tags + inputs + code versions),
    tables with their metadata, checks. `success` None = decided from the events."""
    record = collect(instance, run_id, str(out_dir))
    ok = (not record["failed"]) if success is None else success
    run = instance.get_run_by_id(run_id)
    stats = instance.get_run_stats(run_id) if run else None
    started = stats.start_time if stats and stats.start_time else None
    tags = run_tags(instance, run_id)
    unpublished = [n for n in tags.pop(UNPUBLISHED_TAG, "").split(",") if n]
    summary = {
        "run_id": run_id, "success": ok, "reason": "" if ok else (record["reason"] or "run failed"),
        "seconds": round(time.time() - started, 2) if started else None,
        "performance_year": int(tags.get("performance_year") or 0) or None,
        "provenance": {"run_id": run_id, **tags, **(provenance or {})},
        "tables": {k: v for k, v in record["materialized"].items() if k not in ("run_provenance", "run_summary")},
        "checks": record["checks"],
        UNPUBLISHED_TAG: unpublished,  # snapshots of killed runs this run's cleaning removed (issue 21)
    }
    summary.update(extra or {})
    if unpublished:  # printed by `asm run` with the warnings, failed run or not
        summary["warnings"] = [unpublished_note(unpublished), *summary.get("warnings", [])]
    return summary


def write_summary(out_dir: Path, summary: dict) -> Path:
    path = Path(out_dir) / SUMMARY_FILE
    write_text(path, json.dumps(summary, indent=2, default=str) + "\n")
    return path


def read_summary(out_dir: Path, run_id: str) -> dict | None:
    """OUT/run_summary.json if the given run wrote it."""
    try:
        summary = json.loads((Path(out_dir) / SUMMARY_FILE).read_text())
    except (OSError, ValueError):
        return None
    return summary if summary.get("run_id") == run_id else None


# --------------------------------------------------------------------------------------------
# Progress for people: one line per step as it starts and ends


class _ProgressHandler(logging.Handler):
    def __init__(self, stream=None):
        super().__init__(logging.DEBUG)
        self.stream = stream or sys.stderr
        self.started: dict[str, float] = {}

    def _say(self, text: str) -> None:
        print(f"  {text}", file=self.stream, flush=True)

    def emit(self, record: logging.LogRecord) -> None:
        ev = getattr(record, "dagster_event", None)
        if ev is None or not ev.step_key:
            return
        key, now = ev.step_key, time.perf_counter()
        elapsed = now - self.started.get(key, now)
        if ev.event_type == DagsterEventType.STEP_START:
            self.started[key] = now
            self._say(f"[{key}] started")
        elif ev.event_type == DagsterEventType.STEP_SUCCESS:
            self._say(f"[{key}] done in {elapsed:.1f}s")
        elif ev.event_type == DagsterEventType.STEP_FAILURE:
            self._say(f"[{key}] failed after {elapsed:.1f}s")
        elif ev.event_type == DagsterEventType.STEP_UP_FOR_RETRY:
            self._say(f"[{key}] failed after {elapsed:.1f}s; retrying (transient failure?)")
        elif ev.event_type == DagsterEventType.STEP_SKIPPED:
            self._say(f"[{key}] skipped: an upstream step failed")


@logger(config_schema={"quiet": Field(bool, default_value=False, description="print nothing")},
        description="asm progress: one line per step as it starts and ends, with its elapsed time (stderr).")
def progress_logger(init_context):
    log = logging.Logger("asm_progress", level=logging.DEBUG)
    # a logger without handlers would print its warnings through logging.lastResort
    log.addHandler(logging.NullHandler() if init_context.logger_config["quiet"] else _ProgressHandler())
    return log


# --------------------------------------------------------------------------------------------
# Warnings about the run as a whole


def performance_year_warnings(settings) -> list[str]:
    """The PY has no scorable episode (none ends in it): every score table is empty. One warning
    naming the years the episodes do end in."""
    if not settings.warehouse.exists("episodes"):
        return []
    import polars as pl

    eps = settings.warehouse.read("episodes", ["performance_year", "counts_for_scoring"])
    py = settings.performance_year
    if eps.filter((pl.col("performance_year") == py) & pl.col("counts_for_scoring")).height:
        return []
    years = sorted(y for y in eps.filter(pl.col("counts_for_scoring"))["performance_year"].unique().to_list() if y)
    ends = f"scorable episodes end in {', '.join(map(str, years))}" if years else "no episode counts for scoring"
    hint = f"; pass --performance-year {years[-1]}" if years else ""
    return [f"performance year {py}: no scorable episode ends in it ({ends}), so scores, benchmarks and payment "
            f"adjustments are empty{hint}"]


# --------------------------------------------------------------------------------------------
# `asm report` in the instance


def record_report(out_dir: Path, asset: str, record: dict) -> None:
    """An `asm report` (no run: the tables are only read) as a materialization of the reports asset outside any
    run, so the UI's asset page lists it after the runs' own; its metadata is the report's record
    (pipelines.engine.reports.trace.report_record)."""
    t = record["trace"]
    with open_instance(out_dir) as instance:
        instance.report_runless_asset_event(AssetMaterialization(
            asset_key=AssetKey(asset), description=f"asm report {record['report_id']}",
            metadata={"report_id": record["report_id"], "tables_run_id": t.get("run_id", ""),
                      "input_digest": t.get("input_digest", ""), "git_commit": t.get("code_commit", ""),
                      "pages_git_commit": t.get("pages_code_commit", ""),
                      "methodology_label": t.get("methodology_label", ""),
                      "methodology_fingerprint": t.get("methodology_digest", ""),
                      "tin_reports": len(record["tins"]), "carried_tin_folders": record["carried_tins"],
                      "index_tins": record["index_tins"], "files": len(record["files"]), "bytes": record["bytes"],
                      "seconds": record["seconds"], "folder": MetadataValue.path(record["reports_dir"]),
                      "record": MetadataValue.path(str(Path(out_dir) / REPORT_SUMMARY_FILE))}))
