"""The soak script's checks of OUT after a night (benchmarks/soak.py, issue 21 item 7) on folders built by hand:
no `asm run` here."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import polars as pl

from pipelines.engine.paths import REPO_ROOT
from pipelines.engine.snapshots import publish_run
from pipelines.engine.warehouse import OutFolder

_spec = importlib.util.spec_from_file_location("soak", REPO_ROOT / "benchmarks" / "soak.py")
soak = importlib.util.module_from_spec(_spec)
sys.modules["soak"] = soak  # its dataclasses look their module up
_spec.loader.exec_module(soak)

RECONCILED = {"source_file": ["a", "b"], "rows_read": [10, 5], "rows_loaded": [7, 5], "rows_excluded": [2, 0],
              "rows_quarantined": [1, 0]}


def _publish(out: Path, run: str, ingest: dict) -> None:
    staging = out / ".staging" / run
    (staging / "reports").mkdir(parents=True)
    pl.DataFrame(ingest).write_parquet(staging / "ingest_files.parquet")
    pl.DataFrame({"value": [1]}).write_parquet(staging / "episodes.parquet")
    (staging / "reports" / "index.html").write_text("x")
    publish_run(OutFolder(out, run))


def test_a_whole_published_out_passes_every_check(tmp_path):
    out = tmp_path / "out"
    _publish(out, "run-1", RECONCILED)
    _publish(out, "run-2", RECONCILED)
    state = soak.check_out(out, keep=2, killed=False, first_tables={"episodes", "ingest_files"})
    assert state.problems == [] and state.reconciled and state.lock_free
    assert (state.snapshots, state.staging, state.current) == (2, 0, "run-2")


def test_each_finding_of_a_night_is_reported(tmp_path):
    out = tmp_path / "out"
    _publish(out, "run-1", {**RECONCILED, "rows_loaded": [6, 5]})  # one row unaccounted for
    (out / "snapshots" / ".run-2.partial").mkdir()
    for run in ("run-3", "run-4"):
        (out / ".staging" / run).mkdir(parents=True)
    (out / "snapshots" / "run-1" / "warehouse" / "episodes.parquet").write_bytes(b"not parquet")
    state = soak.check_out(out, keep=2, killed=False, first_tables={"episodes", "ingest_files", "scores"})
    assert state.reconciled is False
    assert {"1 file(s) of ingest_files do not reconcile", "left over: .run-2.partial", "2 staging folders",
            "table episodes.parquet unreadable: ArrowInvalid", "tables missing from the snapshot: episodes, scores",
            } <= set(state.problems), state.problems
    assert soak.check_out(out, keep=2, killed=True, first_tables=set()).leftovers == [".run-2.partial"]


def test_a_held_or_written_lock_is_not_free(tmp_path):
    out = tmp_path / "out"
    _publish(out, "run-1", RECONCILED)
    (out / ".asm.lock").write_text('{"run_id": "killed"}')
    assert soak.check_out(out, keep=2, killed=True, first_tables=set()).lock_free  # a killed run's holder text
    assert not soak.check_out(out, keep=2, killed=False, first_tables=set()).lock_free
    hold = subprocess.Popen([sys.executable, "-c", "import sys, time; from pipelines.engine.outfolder import OutputLock; "
                             "OutputLock(sys.argv[1], 'run-A').__enter__(); print('locked', flush=True); time.sleep(60)",
                             str(out)], stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    try:
        assert hold.stdout.readline().strip() == "locked"
        state = soak.check_out(out, keep=2, killed=True, first_tables=set())
        assert state.lock_free is False and "OUT's lock is still held" in state.problems
    finally:
        hold.kill()
        hold.wait()
