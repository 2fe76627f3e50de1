"""Soak: nightly `asm run`s in a row into one OUT on a growing input, with killed and failed nights (issue 21,
item 7). Not a test and not a benchmark: it runs the CLI as a scheduler would and checks OUT after each night.

    .venv/bin/python benchmarks/soak.py [--nights 30] [--input data/sample/input] [--start-months 3]
                                        [--keep-snapshots 2] [--seed 21] [--work /tmp/asm_soak] [--keep]

The input folder (the demo world of `make demo` by default) is grouped by delivery month (the .Dyymmdd. of
each claims file's name, pipelines.engine.ingest.files); its side files and the first `--start-months` months
are copied into WORK/in, then every night adds the next month and runs
`asm run --input WORK/in --out WORK/out --keep-snapshots K --quiet` in a fresh process. Every third night
(`--every`) is not a normal one, alternately:
  killed  the `asm run` process gets SIGKILL at a random moment between 2 s and the last normal night's
          length (so some kills land in publish); the process group's leftovers get 10 s to end;
  failed  a corrupt claims file (random bytes under a CCLF5 name) is added: the run must exit 1; it is
          removed before the next night.
After each night, OUT is checked (each a column of the table):
  snapshot    OUT/current links to one whole published snapshot (its .published mark or the current one),
              OUT/warehouse and OUT/reports link through it, every table of it reads (no table of the first
              published set missing), and after a normal night it is that night's run;
  reconciled  in that snapshot's ingest_files, rows_read = rows_loaded + rows_excluded + rows_quarantined for
              every file;
  bounded     published snapshots <= --keep-snapshots, at most one staging folder, and no half-built or
              never-published snapshot, except one left by a night killed in publish (the next night
              removes it: checked then);
  lock free   OUT/.asm.lock can be taken (no process holds it) and, unless the night was killed, is empty.
It prints one row per night and a final PASS/FAIL line; exit status 1 on any failure. The work folder is
removed after a PASS unless --keep (kept after a FAIL).
"""
from __future__ import annotations

import argparse
import fcntl
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.engine.ingest.files import discover  # noqa: E402
from pipelines.engine.snapshots import PUBLISHED_MARK  # noqa: E402
from pipelines.engine.warehouse import (CURRENT, LOCK_FILE, REPORTS, SNAPSHOTS, STAGING,  # noqa: E402
                                        WAREHOUSE)


# --------------------------------------------------------------------------------------------
# The growing input


def months_of(input_dir: Path) -> tuple[list[Path], dict[str, list[Path]]]:
    """(side files, claims files by delivery month 'YYYY-MM', oldest first). Sub-folders are left out."""
    side, by_month = [], {}
    for f in discover(input_dir):
        if f.kind == "ignored" or not f.path.is_file():
            continue
        if f.delivery_date is None:
            side.append(f.path)
        else:
            by_month.setdefault(f"{f.delivery_date:%Y-%m}", []).append(f.path)
    return side, dict(sorted(by_month.items()))


def corrupt_file(month: str) -> str:
    """A claims file name of `month` that no real delivery has (a CCLF5 name, a T-part of nines)."""
    yy, mm = month[2:4], month[5:7]
    return f"P.A9999.ACO.ZC5Y{yy}.D{yy}{mm}28.T9999999"


# --------------------------------------------------------------------------------------------
# The checks of OUT after a night


@dataclass
class State:
    """What OUT holds after a night (each a column of the table, or a reason it failed)."""
    snapshots: int = 0  # published snapshots
    leftovers: list[str] = field(default_factory=list)  # half-built or never-published snapshots
    staging: int = 0
    out_mb: float = 0.0
    current: str = ""
    tables: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    reconciled: bool | None = None
    lock_free: bool | None = None


def folder_mb(path: Path) -> float:
    seen, total = set(), 0
    for root, dirs, files in os.walk(path):
        for name in files:
            st = os.lstat(os.path.join(root, name))
            if (st.st_dev, st.st_ino) not in seen:  # hard links of a snapshot counted once
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total / 1e6


def check_snapshot(out: Path, state: State) -> Path | None:
    """OUT/current -> one whole published snapshot, the links through it, every table readable."""
    import pyarrow.parquet as pq

    current = out / CURRENT
    if not current.is_symlink() or not current.exists():
        state.problems.append("OUT/current is not a link to a snapshot")
        return None
    snapshot = current.resolve()
    state.current = snapshot.name
    if os.readlink(current) != f"{SNAPSHOTS}/{snapshot.name}":
        state.problems.append(f"OUT/current links to {os.readlink(current)}")
    for part in (WAREHOUSE, REPORTS):
        link = out / part
        if not link.is_symlink() or os.readlink(link) != f"{CURRENT}/{part}":
            state.problems.append(f"OUT/{part} is not the link {CURRENT}/{part}")
    if not (snapshot / WAREHOUSE).is_dir() or not (snapshot / REPORTS).is_dir():
        state.problems.append(f"snapshot {snapshot.name} lacks warehouse/ or reports/")
        return snapshot
    for table in sorted((snapshot / WAREHOUSE).glob("*.parquet")):
        files = sorted(table.glob("*.parquet")) if table.is_dir() else [table]
        try:
            for f in files:
                pq.read_table(f)
        except Exception as exc:  # noqa: BLE001 - any unreadable table is the finding
            state.problems.append(f"table {table.name} unreadable: {type(exc).__name__}")
            continue
        state.tables.add(table.name.removesuffix(".parquet"))
    return snapshot


def check_reconciled(snapshot: Path, state: State) -> None:
    """rows_read = rows_loaded + rows_excluded + rows_quarantined for every file of ingest_files."""
    import polars as pl

    path = snapshot / WAREHOUSE / "ingest_files.parquet"
    if not path.exists():
        state.reconciled = False
        state.problems.append("no ingest_files table")
        return
    df = pl.read_parquet(path)
    cols = ("rows_read", "rows_loaded", "rows_excluded", "rows_quarantined")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        state.reconciled = False
        state.problems.append(f"ingest_files lacks {', '.join(missing)}")
        return
    bad = df.filter(pl.col("rows_read").fill_null(0) != pl.col("rows_loaded").fill_null(0)
                    + pl.col("rows_excluded").fill_null(0) + pl.col("rows_quarantined").fill_null(0))
    state.reconciled = bad.height == 0
    if bad.height:
        state.problems.append(f"{bad.height} file(s) of ingest_files do not reconcile")


def check_bounded(out: Path, state: State, keep: int, killed: bool) -> None:
    """Published snapshots <= keep, one staging folder at most, no leftover snapshot (but one of a killed night)."""
    folder = out / SNAPSHOTS
    current = (out / CURRENT).resolve() if (out / CURRENT).is_symlink() else None
    for p in sorted(folder.iterdir()) if folder.is_dir() else []:
        if p.name.endswith(".partial"):
            state.leftovers.append(p.name)
        elif p.is_dir() and not p.name.startswith("."):
            if (p / PUBLISHED_MARK).is_file() or p.resolve() == current:
                state.snapshots += 1
            else:
                state.leftovers.append(p.name)
    staging = out / STAGING
    state.staging = len([p for p in staging.iterdir() if p.is_dir()]) if staging.is_dir() else 0
    state.out_mb = folder_mb(out)
    if state.snapshots > keep:
        state.problems.append(f"{state.snapshots} published snapshots > --keep-snapshots {keep}")
    if state.staging > 1:
        state.problems.append(f"{state.staging} staging folders")
    if len(state.leftovers) > (1 if killed else 0):
        state.problems.append(f"left over: {', '.join(state.leftovers)}")


def check_lock(out: Path, state: State, killed: bool) -> None:
    """OUT/.asm.lock can be taken, and is empty (a killed run's holder text stays: the next run reports it)."""
    path = out / LOCK_FILE
    if not path.exists():
        state.lock_free = True
        return
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        free = True
    except BlockingIOError:
        free = False
    finally:
        os.close(fd)
    empty = path.stat().st_size == 0
    state.lock_free = free and (empty or killed)
    if not free:
        state.problems.append("OUT's lock is still held")
    elif not (empty or killed):
        state.problems.append("OUT's lock file is not empty after a run that was not killed")


def check_out(out: Path, keep: int, killed: bool, first_tables: set[str]) -> State:
    """Every check of OUT after a night (the module docstring)."""
    state = State()
    snapshot = check_snapshot(out, state)
    if snapshot is not None and (snapshot / WAREHOUSE).is_dir():
        check_reconciled(snapshot, state)
        lost = first_tables - state.tables
        if lost:
            state.problems.append(f"tables missing from the snapshot: {', '.join(sorted(lost))}")
    check_bounded(out, state, keep, killed)
    check_lock(out, state, killed)
    return state


# --------------------------------------------------------------------------------------------
# One night


@dataclass
class Night:
    night: int
    kind: str  # ok, killed, failed
    exit: int | None = None
    seconds: float = 0.0
    state: State | None = None
    note: str = ""
    verdict: str = ""


def run_asm(inp: Path, out: Path, keep: int, kill_after: float | None) -> tuple[int, float, str, bool]:
    """One `asm run` in a fresh process (its own process group). Returns (exit status, seconds, last stderr
    line, killed). With `kill_after`, SIGKILL the process then, if still running; its group's leftovers get
    10 s to end on their own, then are killed too (and reported)."""
    cmd = [sys.executable, "-m", "pipelines.cli", "run", "--input", str(inp), "--out", str(out),
           "--keep-snapshots", str(keep), "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("DAGSTER_HOME", None)  # the run's instance: OUT/.dagster
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    killed, note = False, ""
    try:
        proc.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        killed = True
        proc.wait()
        deadline = time.monotonic() + 10
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
            note = "processes of the killed run outlived it by 10 s"
    seconds = time.monotonic() - t0
    err = proc.stderr.read().strip().splitlines()
    proc.stderr.close()
    return proc.returncode, seconds, note or (err[-1] if err else ""), killed


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nights", type=int, default=30, help="nightly runs (default 30)")
    p.add_argument("--input", type=Path, default=REPO / "data" / "sample" / "input",
                   help="input folder to grow from (default data/sample/input: `make demo`)")
    p.add_argument("--start-months", type=int, default=3, help="delivery months in the input before night 1")
    p.add_argument("--keep-snapshots", type=int, default=2, help="asm run --keep-snapshots (default 2)")
    p.add_argument("--every", type=int, default=3, help="every N-th night is killed or failed, alternately (default 3)")
    p.add_argument("--seed", type=int, default=21, help="random seed (kill moments, corrupt bytes)")
    p.add_argument("--work", type=Path, default=None, help="work folder (default: a new one under /tmp)")
    p.add_argument("--keep", action="store_true", help="keep the work folder after a PASS")
    args = p.parse_args(argv)
    if not args.input.is_dir():
        p.error(f"input folder not found: {args.input} (run `make demo`, or pass --input)")
    rng = random.Random(args.seed)
    side, months = months_of(args.input)
    names = list(months)
    if len(names) < args.start_months + 1:
        p.error(f"{args.input} has {len(names)} delivery months; need more than --start-months {args.start_months}")
    work = args.work or Path(tempfile.mkdtemp(prefix="asm_soak_"))
    inp, out = work / "in", work / "out"
    if inp.exists() or out.exists():
        p.error(f"{work} already holds in/ or out/: choose an empty --work")
    inp.mkdir(parents=True)
    for f in side:
        shutil.copy2(f, inp / f.name)
    delivered = 0

    def deliver_next() -> str:
        nonlocal delivered
        if delivered >= len(names):
            return ""
        for f in months[names[delivered]]:
            shutil.copy2(f, inp / f.name)
        delivered += 1
        return names[delivered - 1]

    for _ in range(args.start_months - 1):
        deliver_next()
    print(f"soak: {args.nights} nights into {out}; input {args.input} ({len(names)} months, {args.start_months} "
          f"before night 1), keep-snapshots {args.keep_snapshots}, seed {args.seed}", flush=True)
    header = (f"{'night':>5} {'kind':<7} {'exit':>4} {'seconds':>8} {'snapshots':>9} {'staging':>7} {'OUT MB':>8} "
              f"{'reconciled':>10} {'lock free':>9}  verdict")
    print(header)
    print("-" * len(header), flush=True)
    nights, first_tables, last_ok_seconds, corrupt, abnormal = [], set(), 0.0, None, 0
    for n in range(1, args.nights + 1):
        if corrupt is not None:
            corrupt.unlink(missing_ok=True)  # the failed night's corrupt file is taken back
            corrupt = None
        month = deliver_next()
        kind = "ok"
        if n % args.every == 0:
            kind = ("killed", "failed")[abnormal % 2]
            abnormal += 1
        night = Night(n, kind, note=f"+{month}" if month else "no new month left")
        kill_after = None
        if kind == "failed":
            corrupt = inp / corrupt_file(month or names[-1])
            corrupt.write_bytes(rng.randbytes(40_000))
        elif kind == "killed":
            kill_after = rng.uniform(2.0, max(10.0, last_ok_seconds))
            night.note += f", kill at {kill_after:.1f}s"
        night.exit, night.seconds, last_line, killed = run_asm(inp, out, args.keep_snapshots, kill_after)
        if kind == "killed" and not killed:
            night.note += " (ended before the kill)"
        if kind == "ok" and night.exit == 0:
            last_ok_seconds = night.seconds
        state = check_out(out, args.keep_snapshots, killed, first_tables)
        night.state = state
        expected_exit = {"ok": 0, "failed": 1}.get(kind, -signal.SIGKILL if killed else 0)
        problems = list(state.problems)
        if night.exit != expected_exit:
            problems.insert(0, f"exit {night.exit}, expected {expected_exit}: {last_line}")
        summary = _summary(out)
        if kind == "ok" and night.exit == 0 and state.current != summary.get("run_id"):
            problems.append("OUT/current is not this night's run")
        if night.exit == 0 and summary.get("unpublished_snapshots_removed"):
            night.note += f"; removed unpublished {', '.join(summary['unpublished_snapshots_removed'])}"
        if night.exit == 0 and not first_tables:
            first_tables = set(state.tables)
        if kind == "failed" and last_line:
            night.note += f"; {last_line[:90]}"
        night.verdict = "ok" if not problems else "FAIL: " + "; ".join(problems)
        nights.append(night)
        print(_row(night), flush=True)
    failed = [x for x in nights if x.verdict != "ok"]
    print("-" * len(header))
    print(f"{'PASS' if not failed else 'FAIL'}: {len(nights)} nights ({sum(x.kind == 'killed' for x in nights)} killed, "
          f"{sum(x.kind == 'failed' for x in nights)} failed), {len(failed)} with a finding; work folder {work}"
          + ("" if failed or args.keep else " (removed)"))
    if not failed and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


def _summary(out: Path) -> dict:
    """OUT/run_summary.json of the last run ({} when there is none)."""
    import json

    try:
        return json.loads((out / "run_summary.json").read_text())
    except (OSError, ValueError):
        return {}


def _row(x: Night) -> str:
    s = x.state
    yes = {True: "yes", False: "NO", None: "-"}
    return (f"{x.night:>5} {x.kind:<7} {x.exit if x.exit is not None else '-':>4} {x.seconds:>8.1f} "
            f"{s.snapshots:>9} {s.staging:>7} {s.out_mb:>8.1f} {yes[s.reconciled]:>10} {yes[s.lock_free]:>9}  "
            f"{x.verdict} ({x.note})")


if __name__ == "__main__":
    sys.exit(main())
