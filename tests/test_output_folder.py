"""The output folder and bad runs (issue 13 item 5): one run per OUT (a lock that dies with its
process), the cleaning rule for what failed or killed runs leave, and one line, never a traceback,
for an output folder that is a file, cannot be created, is read-only or sits on a full disk, for a
binary, non-UTF-8 or wrongly typed --config, and for raw DuckDB / Polars / OS errors."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus

from pipelines.cli import main
from pipelines.engine.errors import explain
from pipelines.engine.outfolder import OutputInUse, OutputLock, clean_leftovers
from pipelines.engine.warehouse import OutFolder
from tests.cclf_builders import partb_line, write_fixed

REPO = Path(__file__).resolve().parents[1]
ASM = str(Path(sys.executable).parent / "asm")
ZC5 = "P.A1234.ACO.ZC5Y26.D260410.T1200000"
HOLD_LOCK = ("import sys, time; from pipelines.engine.outfolder import OutputLock; "
             "OutputLock(sys.argv[1], 'run-A').__enter__(); print('locked', flush=True); time.sleep(120)")


@pytest.fixture
def tiny_input(tmp_path) -> Path:
    inp = tmp_path / "in"
    inp.mkdir()
    write_fixed(inp / ZC5, "cclf5", [partb_line(CUR_CLM_UNIQ_ID=f"{i:013d}", CLM_CNTL_NUM=f"C{i}") for i in range(5)])
    return inp


def _home(out: Path) -> Path:
    from assets.runtime.runrecord import open_instance

    open_instance(out).dispose()  # creates OUT/.dagster with the project's dagster.yaml
    return out / ".dagster"


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _hold_lock(out: Path) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "locked"
    return child


def test_second_run_into_the_same_out_is_refused_with_one_line_while_the_first_holds_it(tmp_path, tiny_input, capsys):
    out = tmp_path / "out"
    out.mkdir()
    child = _hold_lock(out)
    try:
        assert main(["run", "--input", str(tiny_input), "--out", str(out), "--quiet"]) == 1
        line = _one_line(capsys.readouterr().err)
        assert line.startswith(f"asm: error: output folder {out} is in use by run run-A (pid {child.pid}")
        assert not (out / "warehouse").exists() and not (out / ".staging").exists()
    finally:
        child.kill()
        child.wait()


def test_a_killed_runs_lock_is_stale_taken_over_and_reported(tmp_path, tiny_input, capsys, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # the run's instance: OUT/.dagster
    out = tmp_path / "out"
    out.mkdir()
    child = _hold_lock(out)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    with DagsterInstance.from_config(str(_home(out))) as instance:  # run-A, killed, still shows as started
        instance.add_run(DagsterRun(job_name="asm_all", run_id="run-A", status=DagsterRunStatus.STARTED))
    assert main(["run", "--input", str(tiny_input), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"asm run: note: run run-A (pid {child.pid}" in err and "ended without releasing" in err
    with DagsterInstance.from_config(str(_home(out))) as instance:  # marked failed by the next run
        assert instance.get_run_by_id("run-A").status == DagsterRunStatus.FAILURE
    with OutputLock(out, "next") as lock:  # released cleanly by that run: nothing stale now
        assert lock.previous is None


def test_lock_is_exclusive_across_processes_and_reentrant_within_one(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with OutputLock(out, "a"):
        with OutputLock(out, "a"):  # the runner holds it, the job's resource takes it again
            pass
        child = subprocess.run([sys.executable, "-c", "import sys; from pipelines.engine.outfolder import OutputLock; "
                                "OutputLock(sys.argv[1], 'b').__enter__()", str(out)], cwd=REPO,
                               capture_output=True, text=True)
        assert child.returncode != 0 and "OutputInUse" in child.stderr
    child = subprocess.run([sys.executable, "-c", "import sys; from pipelines.engine.outfolder import OutputLock; "
                            "OutputLock(sys.argv[1], 'b').__enter__()", str(out)], cwd=REPO)
    assert child.returncode == 0
    assert issubclass(OutputInUse, Exception)


def test_cleaning_rule_keeps_only_the_newest_failed_staging_and_drops_half_built_snapshots(tmp_path):
    out = tmp_path / "out"
    wh = OutFolder(out, "run-now")
    for i, run in enumerate(("run-1", "run-2", "run-3")):
        (wh.staging_root / run).mkdir(parents=True)
        (wh.staging_root / run / "t.parquet").write_bytes(b"x")
        os.utime(wh.staging_root / run, (1_000_000 + i, 1_000_000 + i))
    (out / "snapshots" / ".run-9.partial").mkdir(parents=True)
    (out / ".tmp").mkdir()
    (out / "dq_results").mkdir()
    (out / "dq_results" / ".part.parquet.1234.tmp").write_bytes(b"x")
    removed = clean_leftovers(wh).removed
    assert sorted(p.name for p in wh.staging_root.iterdir()) == ["run-3"]  # the newest failed run, for inspection
    assert {".staging/run-1", ".staging/run-2", ".tmp", "snapshots/.run-9.partial"} <= set(removed)
    assert not (out / ".tmp").exists() and not list((out / "dq_results").iterdir())


def test_output_folder_that_is_a_file_or_cannot_be_created_is_one_line(tmp_path, tiny_input, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["run", "--input", str(tiny_input), "--out", str(afile), "--quiet"]) == 1
    assert _one_line(capsys.readouterr().err) == f"asm: error: output folder {afile} is an existing file; choose a " \
                                                 "folder for --out"
    assert main(["run", "--input", str(tiny_input), "--out", str(afile / "sub"), "--quiet"]) == 1
    assert _one_line(capsys.readouterr().err) == f"asm: error: cannot create output folder {afile / 'sub'}: a parent " \
                                                 "of it is a file"


def _in_mount_namespace(script: str) -> subprocess.CompletedProcess:
    """Run a shell script in a private mount namespace (tmpfs mounts the test makes vanish with it)."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed: cannot mount a small or read-only file system")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a mount namespace here: {probe.stderr.decode().strip()}")
    return subprocess.run(["unshare", "-m", "sh", "-euc", script], capture_output=True, text=True, timeout=600,
                          cwd=REPO)


def test_read_only_output_folder_is_one_line(tmp_path, tiny_input):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    done = _in_mount_namespace(f"""
        mount -t tmpfs -o size=1m tmpfs {mnt}; mkdir {mnt}/out; mount -o remount,ro {mnt}
        {ASM} run --input {tiny_input} --out {mnt}/out --quiet || echo "rc=$?" >&2
        {ASM} run --input {tiny_input} --out {mnt}/new --quiet || echo "rc=$?" >&2""")
    assert done.stderr.splitlines() == [
        f"asm: error: cannot write to output folder {mnt}/out: it is on a read-only file system", "rc=1",
        f"asm: error: cannot create output folder {mnt}/new: it is on a read-only file system", "rc=1"]


@pytest.mark.parametrize("size, where", [("32k", "probe"), ("400k", "instance"), ("1200k", "tables")])
def test_full_disk_is_one_line_wherever_the_run_meets_it(tmp_path, tiny_input, size, where):
    """The folder check writes 64 KiB first; a disk that fills later (the run's instance in
    OUT/.dagster, or its tables) is still one line naming the disk, never a traceback."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    inp = tmp_path / "big_in"
    subprocess.run([ASM, "generate", "--out", str(inp), "--scale", "20000", "--quiet"], check=True, cwd=REPO,
                   capture_output=True)
    done = _in_mount_namespace(f"""
        mount -t tmpfs -o size={size} tmpfs {mnt}
        {ASM} run --input {inp} --out {mnt}/out --quiet || echo "rc=$?" >&2""")
    lines = done.stderr.splitlines()
    assert lines[-1] == "rc=1" and len(lines) == 2 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("asm: error: ") and f"the disk holding {mnt}/out is full" in lines[0] or \
        lines[0] == f"asm: error: cannot write to output folder {mnt}/out: the disk is full", (where, lines[0])


def test_full_disk_names_the_failed_runs_staging_folder_that_can_be_removed(tmp_path, tiny_input):
    """Issue 21 item 6: the cleaning rule keeps the last failed run's OUT/.staging/<run>; when the next run
    meets a full disk, its one line says that folder (and its size) can be removed."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    kept = "0f0f0f0f-1111-2222-3333-444444444444"
    done = _in_mount_namespace(f"""
        mount -t tmpfs -o size=400k tmpfs {mnt}; mkdir -p {mnt}/out/.staging/{kept}
        dd if=/dev/zero of={mnt}/out/.staging/{kept}/partb_lines.parquet bs=4k count=1000 2>/dev/null || true
        touch -d '2026-12-01 02:00' {mnt}/out/.staging/{kept}
        {ASM} run --input {tiny_input} --out {mnt}/out --quiet || echo "rc=$?" >&2""")
    lines = done.stderr.splitlines()
    assert lines[-1] == "rc=1" and len(lines) == 2, done.stderr
    assert lines[0].startswith(f"asm: error: cannot write to output folder {mnt}/out: the disk is full; "), lines[0]
    assert lines[0].endswith(f"; {mnt}/out/.staging/{kept} (0.4 MB, kept from a failed run of 2026-12-01 02:00) "
                             "can be removed to free space"), lines[0]


def test_full_disk_in_a_step_names_the_kept_staging_folder_but_not_the_runs_own(tmp_path):
    from assets.runner import _full_disk_hint
    from pipelines.engine.settings import RunSettings

    settings = RunSettings(input_dir=tmp_path, out_dir=tmp_path / "out")
    for run_id, size in (("earlier-run", 2_000_000), ("this-run", 5_000_000)):
        (tmp_path / "out" / ".staging" / run_id).mkdir(parents=True)
        (tmp_path / "out" / ".staging" / run_id / "t.parquet").write_bytes(b"x" * size)
    os.utime(tmp_path / "out" / ".staging" / "earlier-run", (0, time.mktime((2026, 12, 1, 2, 0, 0, 0, 0, -1))))
    why = explain("OSError: [Errno 28] No space left on device", str(tmp_path / "out"))
    assert _full_disk_hint(why, settings, "this-run") == (
        f"; {tmp_path}/out/.staging/earlier-run (2.0 MB, kept from a failed run of 2026-12-01 02:00) can be removed "
        "to free space")
    assert _full_disk_hint("ingest: a value could not be read as a date", settings, "this-run") == ""


def test_snapshots_on_another_disk_that_fills_during_publish_leave_no_partial_and_name_that_disk(tmp_path,
                                                                                                 tiny_input):
    """Issue 21 (item 4), as found: OUT/snapshots is a link to a small disk; the second run's snapshot copy fills
    it. The run fails with one line naming that disk (not OUT's), no half-copied snapshot is left there (its space
    is free again), and OUT/current still points to the first run's snapshot."""
    mnt, out = tmp_path / "mnt", tmp_path / "out"
    mnt.mkdir()
    out.mkdir()
    (out / "snapshots").symlink_to(mnt)
    done = _in_mount_namespace(f"""
        mount -t tmpfs -o size=1800k tmpfs {mnt}
        {ASM} run --input {tiny_input} --out {out} --quiet >/dev/null 2>&1
        readlink {out}/current
        df -k --output=used {mnt} | tail -1 >&2
        {ASM} run --input {tiny_input} --out {out} --quiet >/dev/null || echo "rc=$?" >&2
        df -k --output=used {mnt} | tail -1 >&2
        ls -A {mnt}; readlink {out}/current""")
    first, *listing, last = done.stdout.split()
    used_before, line, rc, used_after = done.stderr.splitlines()
    assert first == last and listing == [first.removeprefix("snapshots/")], done.stdout
    assert rc == "rc=1" and used_after == used_before, done.stderr
    assert line.startswith(f"asm: error: publish: the disk holding {mnt} is full: free space"), line


@pytest.mark.parametrize("content, expected", [
    (b"\x00\x01\x02ELF binary", "is not valid TOML: contains NUL bytes"),
    ("a = 'caf\u00e9'\n".encode("latin-1"), "is not valid TOML: not UTF-8 text (byte 0xe9"),
    (b'[defaults.ingest]\nquarantine_max_rate = "abc"\n', 'ingest.quarantine_max_rate = "abc": must be a number'),
    (b"[defaults.benchmarks]\ncase_minimum = 2.5\n", "benchmarks.case_minimum = 2.5: must be an integer"),
])
def test_bad_config_file_is_one_line(tmp_path, tiny_input, capsys, content, expected):
    cfg = tmp_path / "m.toml"
    cfg.write_bytes(content)
    assert main(["run", "--input", str(tiny_input), "--out", str(tmp_path / "out"), "--config", str(cfg)]) == 1
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"asm: error: config {cfg}: ") and expected in line, line


def test_bad_option_values_are_one_line_and_every_option_has_help(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["run", "--input", "x", "--out", "y", "--performance-year", "twenty"])
    assert stop.value.code == 2
    assert _one_line(capsys.readouterr().err) == ("asm: error: run: argument --performance-year: invalid int value: "
                                                  "'twenty' (see `asm run --help`)")
    from pipelines.cli import build_parser

    parser = build_parser()
    subparsers = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"][0]
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            assert action.help, f"asm {name} {action.option_strings}: no help text"


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    import pipelines

    assert capsys.readouterr().out.strip() == f"asm-pipeline {pipelines.__version__}"


@pytest.mark.parametrize("raw, expected", [
    ('IO Error: Could not write file "/o/out/.staging/r/.x.parquet.1.tmp": No space left on device',
     "the disk holding /o/out is full"),
    ("(sqlite3.OperationalError) database or disk is full", "the disk holding /o/out is full"),
    ("[Errno 30] Read-only file system: '/o/out/x'", "/o/out is on a read-only file system"),
    ("[Errno 13] Permission denied: '/srv/shared/in'", "permission denied on /srv/shared/in"),
    ("Out of Memory Error: failed to allocate data of size 2.0 GiB", "ran out of memory: pass --memory-limit"),
    ("could not parse `4O` as dtype `i64` at column 'pi_score' (column number 3)",
     "a value in column 'pi_score' could not be read as a whole number"),
    ("Conversion Error: Could not convert string '1A2' to INT64", "a value could not be read as a whole number"),
    ('ColumnNotFoundError: unable to find column "zip5"; valid columns: ["npi"]', "column 'zip5' is missing"),
    ('IO Error: No files found that match the pattern "/o/out/warehouse/episodes.parquet"',
     "table file /o/out/warehouse/episodes.parquet is missing"),
])
def test_raw_library_errors_are_translated_without_repeating_values(raw, expected):
    said = explain(raw, "/o/out")
    assert said is not None and said.startswith(expected), said
    assert "1A2" not in said and "4O" not in said  # a value from the data may be a beneficiary id


def test_unknown_errors_are_left_to_the_caller_unless_the_disk_is_full(tmp_path, monkeypatch):
    assert explain("KeyError: 'x'", str(tmp_path)) is None
    import pipelines.engine.errors

    monkeypatch.setattr(pipelines.engine.errors, "FULL_DISK_BYTES", 1 << 62)  # every disk looks full
    assert explain("(sqlite3.OperationalError) disk I/O error", str(tmp_path)).startswith(
        f"the disk holding {tmp_path} is full")


def test_an_unexpected_error_is_still_one_line(monkeypatch, tmp_path, tiny_input, capsys):
    import assets.runner

    def boom(settings):
        raise RuntimeError("something broke\nsecond line")

    monkeypatch.setattr(assets.runner, "run_pipeline", boom)
    monkeypatch.delenv("ASM_DEBUG", raising=False)
    assert main(["run", "--input", str(tiny_input), "--out", str(tmp_path / "o"), "--quiet"]) == 1
    assert _one_line(capsys.readouterr().err) == ("asm: error: internal error: RuntimeError: something broke (please "
                                                  "report it; ASM_DEBUG=1 shows the traceback)")


def test_stale_lock_file_of_a_dead_process_does_not_block(tmp_path):
    """A lock file left behind (e.g. copied with the folder) with a pid that no longer exists."""
    out = tmp_path / "out"
    out.mkdir()
    (out / ".asm.lock").write_text('{"run_id": "old", "pid": 999999, "host": "h", "started": %d}' % time.time())
    with OutputLock(out, "new") as lock:
        assert lock.previous["run_id"] == "old" and "ended without releasing" in lock.stale_message()


# --------------------------------------------------------------------------------------------
# Issue 21 (item 3): every command that writes OUT takes its run lock


def _listing(out: Path) -> dict[str, tuple[int, int]]:
    """Every path under OUT with its size and modification time: what "OUT unchanged" compares."""
    return {str(p.relative_to(out)): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in sorted(out.rglob("*"))}


@pytest.fixture
def published_out(tmp_path) -> Path:
    """An OUT with one published snapshot holding participant_scores (enough for `load_run`)."""
    import polars as pl

    from pipelines.engine.snapshots import publish_run

    out = tmp_path / "published"
    staging = out / ".staging" / "run-0"
    staging.mkdir(parents=True)
    pl.DataFrame({"tin": ["123456789"]}).write_parquet(staging / "participant_scores.parquet")
    publish_run(OutFolder(out, "run-0"))
    return out


@pytest.mark.parametrize("command", ["backfill", "sensitivity", "whatif", "report"])
def test_every_command_that_writes_out_is_refused_in_one_line_while_a_run_holds_it(
        published_out, tiny_input, capsys, command):
    """Issue 21 (item 3): `asm backfill`, `asm sensitivity`, `asm whatif` and `asm report` hold OUT's run lock for
    every write to OUT: while another process holds it, each exits 1 with the one line naming the holder and OUT
    is left exactly as it was (`asm run`: test_second_run_into_the_same_out_...)."""
    out = published_out
    argv = {"backfill": ["backfill", "--monthly", "--input", str(tiny_input), "--out", str(out), "--from", "2026-04"],
            "sensitivity": ["sensitivity", "--out", str(out), "--input", str(tiny_input), "--quiet"],
            "whatif": ["whatif", "--out", str(out), "--input", str(tiny_input), "--tin", "123456789", "--attest", "IA-1"],
            "report": ["report", "--out", str(out), "--quiet"]}[command]
    child = _hold_lock(out)
    try:
        before = _listing(out)
        assert main(argv) == 1
        line = _one_line(capsys.readouterr().err)
        assert line.startswith("asm: error: ") and f"output folder {out} is in use by run run-A (pid {child.pid}" \
            in line and line.endswith("; wait for it to finish or choose another --out"), line
        assert _listing(out) == before
    finally:
        child.kill()
        child.wait()


def test_a_run_into_an_out_with_a_real_reports_folder_is_refused_and_changes_nothing(published_out, tiny_input,
                                                                                     capsys):
    """Issue 21 (item 3): a real OUT/reports folder beside the published snapshots (written outside a run) is never
    adopted into a snapshot: `asm run` exits 1 with one line telling the user to move it away."""
    out = published_out
    (out / "reports").unlink()
    (out / "reports").mkdir()
    (out / "reports" / "index.html").write_text("not from a run")
    before = _listing(out)
    assert main(["run", "--input", str(tiny_input), "--out", str(out), "--quiet"]) == 1
    assert _one_line(capsys.readouterr().err) == (
        f"asm: error: {out / 'reports'} is a real folder that no run published (written outside a run?); asm "
        "publishes each run as OUT/snapshots/<run> and manages OUT/reports as a link (to keep the tables on another "
        "file system, make OUT/snapshots a link there, or choose --out there): move it away and run again")
    assert _listing(out) == before


def test_a_run_removes_and_lists_a_killed_runs_unpublished_snapshot(tmp_path, tiny_input, capsys, monkeypatch):
    """Issue 21 (item 4): a snapshot sealed by a run killed before OUT/current switched to it is removed by the next
    run, which lists it in run_summary.json and on the terminal; the published snapshot stays the previous one."""
    import json

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    out = tmp_path / "out"
    assert main(["run", "--input", str(tiny_input), "--out", str(out), "--quiet"]) == 0
    published = (out / "current").resolve()
    killed = out / "snapshots" / "0-killed-run"
    shutil.copytree(published, killed, ignore=shutil.ignore_patterns(".published"))  # sealed, never switched to
    capsys.readouterr()
    assert main(["run", "--input", str(tiny_input), "--out", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    note = ("removed 1 snapshot(s) that were never published (a run killed while publishing): "
            "snapshots/0-killed-run; the published snapshots are kept")
    assert f"asm run: warning: {note}" in err.splitlines()
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["unpublished_snapshots_removed"] == ["0-killed-run"] and note in summary["warnings"]
    assert not killed.exists() and published.is_dir() and (out / "current").resolve() != published


def test_sensitivity_writes_its_summary_while_still_holding_outs_lock(published_out, tiny_input, monkeypatch, capsys):
    """Issue 21 (item 3): OUT/sensitivity/summary.csv and changes.parquet are written before the lock is released
    (they were written after it, where a run could be publishing)."""
    import polars as pl

    import pipelines.cli.sensitivity as engine
    import pipelines.engine.outfolder as outfolder
    import pipelines.engine.warehouse as warehouse

    held = []
    write_text, write_frame = warehouse.write_text, warehouse.write_frame
    monkeypatch.setattr(engine, "run_sensitivity", lambda *a, **k: (pl.DataFrame(schema=engine.SUMMARY_SCHEMA),
                                                                    pl.DataFrame({"value": [1]})))
    monkeypatch.setattr(warehouse, "write_text", lambda p, t: (held.append(bool(outfolder._HELD)), write_text(p, t)))
    monkeypatch.setattr(warehouse, "write_frame", lambda d, p: (held.append(bool(outfolder._HELD)), write_frame(d, p)))
    assert main(["sensitivity", "--out", str(published_out), "--input", str(tiny_input), "--quiet"]) == 0
    assert held == [True, True] and (published_out / "sensitivity" / "summary.csv").is_file()
    assert not outfolder._HELD
