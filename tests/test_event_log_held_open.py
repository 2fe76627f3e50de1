"""Issue 20: `asm run` holds the run's SQLite event-log files open (assets.runtime.runrecord.event_log_held_open),
so Dagster's per-event connection no longer checkpoints and deletes the WAL on every close; once the run
ends the files are checkpointed as before and every event is there."""
from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from dagster import DagsterInstance, DagsterRun
from dagster._core.events.log import EventLogEntry

from assets.runtime.runrecord import INDEX_SHARD, INSTANCE_TEMPLATE, event_log_held_open


def _instance(tmp_path: Path) -> DagsterInstance:
    shutil.copyfile(INSTANCE_TEMPLATE, tmp_path / "dagster.yaml")
    return DagsterInstance.from_config(str(tmp_path))


def _log(instance: DagsterInstance, run_id: str, n: int) -> None:
    for i in range(n):
        instance.handle_new_event(EventLogEntry(error_info=None, level="INFO", user_message=f"line {i}",
                                                run_id=run_id, timestamp=1.0 + i))


def _wal(instance: DagsterInstance, shard: str) -> Path:
    return Path(instance.event_log_storage.path_for_shard(shard) + "-wal")


def test_issue20_run_event_log_is_checkpointed_once_at_the_end_not_per_event(tmp_path):
    with _instance(tmp_path) as instance:
        run_id = str(uuid.uuid4())
        instance.add_run(DagsterRun(job_name="asm_all", run_id=run_id))
        with event_log_held_open(instance, run_id):
            _log(instance, run_id, 3)
            assert _wal(instance, run_id).exists()  # Dagster's close did not checkpoint the run's file
            assert _wal(instance, INDEX_SHARD).exists()
        assert not _wal(instance, run_id).exists()  # the last connection out checkpointed it
        assert [e.user_message for e in instance.all_logs(run_id)] == ["line 0", "line 1", "line 2"]


def test_issue20_without_the_held_connection_every_close_checkpoints(tmp_path):
    # the cost the held connection removes: Dagster's own per-event close deletes the WAL each time
    with _instance(tmp_path) as instance:
        run_id = str(uuid.uuid4())
        instance.add_run(DagsterRun(job_name="asm_all", run_id=run_id))
        _log(instance, run_id, 1)
        assert Path(instance.event_log_storage.path_for_shard(run_id)).exists()
        assert not _wal(instance, run_id).exists()


def test_issue20_other_event_logs_are_left_alone():
    with DagsterInstance.ephemeral() as instance:  # in-memory event log: nothing to hold
        run_id = str(uuid.uuid4())
        instance.add_run(DagsterRun(job_name="asm_all", run_id=run_id))
        with event_log_held_open(instance, run_id):
            _log(instance, run_id, 2)
        assert len(instance.all_logs(run_id)) == 2
