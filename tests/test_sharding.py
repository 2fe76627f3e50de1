"""Sharded execution (issue 12 item 3; pipelines/engine/shards.py): a generated input split into 8 beneficiary shards
gives every table of the unsharded run, row for row; shard files hold disjoint beneficiaries; the
multiprocess executor runs the shard steps in parallel; bad shard settings are refused in one line."""
from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from dagster import AssetKey, DagsterEventType, execute_job, reconstructable

from pipelines.engine.compare import compare_warehouses
from assets.definitions import asm_job_from_env
from pipelines.engine.duck import sql_literal
from pipelines.engine.episodes import EPISODE_TABLES, EpisodeConfigError, run_episode_shard
from pipelines.engine.methodology import load_methodology
from pipelines.engine.outfolder import OutputLock
from assets.runner import run_pipeline
from assets.runtime.runrecord import open_instance
from pipelines.engine.settings import RunSettings, settings_to_env
from pipelines.engine.shards import SHARDED_TABLES, Shard, ShardError, shard_file
from pipelines.engine.tables import TABLE_KEYS
from pipelines.engine.warehouse import parquet_files, write_query
from tests.report_run import small_run

REPO = Path(__file__).resolve().parents[1]
SHARDS = 8


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    """The session's small run (one shard) and the same input run in 8 shards."""
    one, _ = small_run()
    settings = RunSettings(input_dir=one.input_dir, out_dir=tmp_path_factory.mktemp("sharded") / "out", threads=2,
                           quiet=True, shards=SHARDS)
    outcome = run_pipeline(settings)
    assert outcome.success, outcome.reason
    return one, settings


def test_sharded_run_equals_the_unsharded_run_table_for_table(sharded):
    one, eight = sharded
    diffs = compare_warehouses(one.warehouse_dir, eight.warehouse_dir)
    assert {d.table for d in diffs} == set(TABLE_KEYS)  # every table of the run, not a subset
    assert [d.line() for d in diffs if not d.identical] == []
    by_table = {d.table: d for d in diffs}
    assert by_table["partb_lines"].rows_a > 50_000 and by_table["episodes"].rows_a > 1_000
    assert by_table["payment_adjustments"].rows_a > 0  # scoring ran on both: both cohorts have a peer pool


def test_sharded_tables_are_one_file_per_shard_with_disjoint_beneficiaries(sharded):
    _, eight = sharded
    con = duckdb.connect()
    owner: dict[str, set[int]] = {}
    for table in SHARDED_TABLES:
        path = eight.warehouse_dir / f"{table}.parquet"
        assert parquet_files(path) == [str(shard_file(path, k, SHARDS)) for k in range(SHARDS)], table
        for k in range(SHARDS):
            benes = con.execute(f"SELECT DISTINCT bene_id FROM read_parquet({sql_literal(str(shard_file(path, k, SHARDS)))})"
                                ).fetchall() if table != "episode_observed_costs" else []
            for (bene,) in benes:
                owner.setdefault(bene, set()).add(k)
    assert owner and all(len(shards) == 1 for shards in owner.values())  # a beneficiary lives in one shard
    sizes = [len([b for b, s in owner.items() if k in s]) for k in range(SHARDS)]
    assert min(sizes) > 0.5 * max(sizes)  # the hash spreads them


def test_sharded_write_is_sorted_and_byte_identical_on_rerun(tmp_path):
    con = duckdb.connect()
    query = "SELECT 'B' || (i % 97) AS bene_id, (i * 7919) % 1000 AS claim_control_number, i AS line_number " \
            "FROM range(5000) t(i)"
    digests = []
    for run in ("a", "b"):
        path = tmp_path / run / "partb_lines.parquet"
        assert write_query(con, query, path, shards=4) == 5000
        files = parquet_files(path)
        assert len(files) == 4
        digests.append([hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in files])
        for f in files:  # sorted by the table's key (claim_control_number, line_number, bene_id)
            rows = con.execute(f"SELECT claim_control_number, line_number FROM read_parquet({sql_literal(f)})").fetchall()
            assert rows == sorted(rows)
    assert digests[0] == digests[1]


def test_an_empty_shard_is_a_file_with_the_schema(tmp_path):
    con = duckdb.connect()
    path = tmp_path / "beneficiaries.parquet"
    assert write_query(con, "SELECT 'only-one' AS bene_id, DATE '1950-01-01' AS birth_date", path, shards=3) == 1
    counts = [con.execute(f"SELECT count(*) FROM read_parquet({sql_literal(f)})").fetchone()[0]
              for f in parquet_files(path)]
    assert sorted(counts) == [0, 0, 1]
    assert con.execute(f"DESCRIBE SELECT * FROM read_parquet({sql_literal(parquet_files(path)[0])})").fetchall()[1][1] \
        == "DATE"


def test_episode_shard_refuses_ingest_tables_of_another_shard_count(sharded):
    _, eight = sharded
    settings = RunSettings(input_dir=eight.input_dir, out_dir=eight.out_dir, quiet=True, shards=4)
    with pytest.raises(EpisodeConfigError, match=r"partb_lines .* was not written in 4 shard\(s\).*same shard count"):
        run_episode_shard(settings, load_methodology(2027), Shard(0, 4))


@pytest.mark.parametrize("count, why", [(0, "shards must be a whole number from 1 to 256"),
                                        (-1, "shards must be a whole number from 1 to 256"),
                                        (257, "257 shards is more than 256: every shard is a step of its own")])
def test_shard_count_out_of_range_is_refused(count, why):
    with pytest.raises(ShardError, match=why):
        RunSettings(input_dir=".", out_dir=".", shards=count)
    with pytest.raises(ShardError):
        Shard(count, count)


def test_cli_refuses_zero_shards_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--input", str(tmp_path), "--out",
                           str(tmp_path / "o"), "--shards", "0"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode != 0 and "--shards: must be at least 1" in done.stderr
    assert "Traceback" not in done.stderr


def test_steps_of_one_run_share_the_output_lock_other_runs_are_refused(tmp_path):
    """A step of a multiprocess run (another process, same run id) shares the lock; a different run
    is refused."""
    code = ("import sys; from pathlib import Path; from pipelines.engine.outfolder import OutputLock, OutputInUse\n"
            "try:\n    l = OutputLock(Path(sys.argv[1]), sys.argv[2]).__enter__(); print('shared' if l.shared else 'own')\n"
            "except OutputInUse as e:\n    print('refused')")
    with OutputLock(tmp_path, "run-1"):
        def other(run_id: str) -> str:
            return subprocess.run([sys.executable, "-c", code, str(tmp_path), run_id], cwd=REPO, capture_output=True,
                                  text=True, check=True).stdout.strip()
        assert other("run-1") == "shared"
        assert other("run-2") == "refused"
    assert subprocess.run([sys.executable, "-c", code, str(tmp_path), "run-2"], cwd=REPO, capture_output=True,
                          text=True, check=True).stdout.strip() == "own"


def test_multiprocess_executor_runs_shard_steps_in_parallel(sharded, monkeypatch):
    """The episode stage alone, in 8 shard steps, two processes at a time (Dagster's multiprocess
    executor), over the 8-shard run's ingest tables: the shard steps overlap in time and write the
    same episode tables. A step's span runs from the launch of its process (STEP_WORKER_STARTING) to its
    success: the steps themselves take 0.3-0.5 s and a process about 3 s to start, so on a slow machine two
    steps' own spans (STEP_START to STEP_SUCCESS) could miss each other although both processes ran at once;
    with one process at a time no two spans overlap."""
    _, eight = sharded
    settings = RunSettings(input_dir=eight.input_dir, out_dir=eight.out_dir, threads=1, quiet=True, shards=SHARDS,
                           workers=2, step_retries=0)
    for key, value in settings_to_env(settings).items():
        monkeypatch.setenv(key, value)
    with open_instance(settings.out_dir) as instance:
        result = execute_job(reconstructable(asm_job_from_env), instance,
                             asset_selection=[AssetKey(t) for t in EPISODE_TABLES])
        assert result.success
        spans = {}
        for event in instance.all_logs(result.run_id):
            step = event.step_key or ""
            if event.dagster_event and step.startswith("episodes_stage.episodes_shard_"):
                kind = event.dagster_event.event_type
                if kind == DagsterEventType.STEP_WORKER_STARTING:
                    spans.setdefault(step, [None, None])[0] = event.timestamp
                elif kind == DagsterEventType.STEP_SUCCESS:
                    spans.setdefault(step, [None, None])[1] = event.timestamp
    assert len(spans) == SHARDS and all(a and b for a, b in spans.values())
    ordered = sorted(spans.values())
    assert any(later[0] < earlier[1] for earlier, later in zip(ordered, ordered[1:])), "no two shard steps overlapped"
    staged = settings.out_dir / ".staging" / result.run_id
    diffs = [d for d in compare_warehouses(eight.warehouse_dir, staged) if d.table in EPISODE_TABLES]
    assert len(diffs) == len(EPISODE_TABLES) and all(d.identical for d in diffs), [d.line() for d in diffs]
