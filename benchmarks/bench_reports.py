"""Time the reports stage (`asm report`: every TIN's folder, the index, the cohort summary, the privacy scan)
on a run's output folder, against two baselines measured right after it in the same run (issue 19, item 1).

  .venv/bin/python benchmarks/bench_reports.py [--out OUT] [--threads 2] [--repeats 3]

OUT defaults to WORK/demo/out (WORK: /tmp/asm-bench/reports): the demo world (`asm generate --scale small
--seed 42`) and one `asm run` on it, made first when absent. For a 10M-line world, generate and run it as
benchmarks/suite.py does (`asm generate --scale 10000000 --format parquet`, `asm run`) and pass --out.

Each repeat, in child processes, in this order (pairing matters on a shared machine):
  1. `asm report --out OUT --threads N --quiet`: wall seconds, the figure the targets are about;
  2. baseline "read": a bare Polars read of every table the reports read (pipelines.engine.reports.REPORT_INPUTS);
  3. baseline "copy": `cp -r` of the reports folder the step wrote (its bytes on disk, a file at a time).
Then once, in a child process, the step again with its phases timed (wall seconds, phases nest: the table
shows each phase's total over the TINs; the pool's processes, if any, are not broken down).
Prints a markdown table: seconds (median over repeats), ratio to each baseline (median of the paired
ratios), the reports folder's files and bytes, and the load averages before and after. Unit tests never run
this.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))


def say(message: str) -> None:
    print(f"[bench_reports {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def asm(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipelines.cli", *args]


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def ensure_out(args) -> Path:
    """OUT, or the demo world run once into WORK/demo/out."""
    if args.out:
        if not (args.out / "warehouse" / "participant_scores.parquet").exists():
            sys.exit(f"{args.out}: no published run (warehouse/participant_scores.parquet)")
        return args.out
    base = args.work / "demo"
    out = base / "out"
    if not (out / "warehouse" / "participant_scores.parquet").exists():
        shutil.rmtree(base, ignore_errors=True)
        say(f"generating and running the demo world in {base} ...")
        subprocess.run(asm("generate", "--out", str(base / "in"), "--scale", "small", "--seed", "42", "--quiet"),
                       cwd=REPO, check=True)
        subprocess.run(asm("run", "--input", str(base / "in"), "--out", str(out), "--threads", str(args.threads),
                           "--quiet"), cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    return out


READ = """
import sys, polars as pl
from pathlib import Path
from pipelines.engine.reports import REPORT_INPUTS
from pipelines.engine.warehouse import parquet_files
from pipelines.engine.outfolder import OutFolder
wh = OutFolder(Path(sys.argv[1]))
for t in REPORT_INPUTS:
    p = wh.published_path(t)
    if p.exists():
        pl.read_parquet(parquet_files(p))
"""


def folder_size(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


# ------------------------------------------------------------------------------------------ phases (child)

PHASES = {  # label: (module, attribute) timed around every call
    "read the tables": ("pipelines.engine.reports.inputs", "ReportTables.read"),
    "episodes of the TINs (participant_episodes)": ("pipelines.engine.reports.scorecard", "participant_episodes"),
    "their lines (listed_lines: DuckDB)": ("pipelines.engine.reports.scorecard", "listed_lines"),
    "lines pages' sections (Polars)": ("pipelines.engine.reports.scorecard", "page_sections"),
    "export frames (Polars)": ("pipelines.engine.reports.scorecard", "build_exports"),
    "scorecards (all of write_scorecard)": ("pipelines.engine.reports.scorecard", "write_scorecard"),
    "  participants (rows and charts)": ("pipelines.engine.reports.scorecard", "_participants"),
    "  lines pages (frames, files)": ("pipelines.engine.reports.scorecard", "_lines_pages"),
    "  CSV and workbook files": ("pipelines.engine.reports.scorecard", "write_exports"),
    "Vega runtime": ("pipelines.engine.reports.build", "charts.write_runtime"),
    "index": ("pipelines.engine.reports.build", "index_rows"),
    "privacy scan": ("pipelines.engine.reports.privacy", "PrivacyGuard.scan"),
    "swap into OUT/reports": ("pipelines.engine.reports", "swap_dir"),
}


def phases(out: Path, threads: int) -> dict:
    """One `asm report` in this process with PHASES timed (wall seconds, summed over calls)."""
    import importlib

    seconds = {label: 0.0 for label in PHASES}

    def wrap(label, fn):
        def timed_call(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                seconds[label] += time.perf_counter() - t0  # phases nest: a phase's calls inside another count in both
        return timed_call

    import pipelines.engine.reports.build  # noqa: F401  (the modules PHASES patch)
    import pipelines.engine.reports.scorecard  # noqa: F401
    for label, (module, attr) in PHASES.items():
        owner = importlib.import_module(module)
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part)
        fn = getattr(owner, name, None)
        if fn is None:  # an older version of the code without this phase
            seconds[label] = None
            continue
        setattr(owner, name, classmethod(wrap(label, fn.__func__)) if isinstance(owner, type) and
                hasattr(fn, "__func__") else wrap(label, fn))
    from pipelines.cli import main

    t0 = time.perf_counter()
    main(["report", "--out", str(out), "--threads", str(threads), "--quiet"])
    return {"total (in process)": time.perf_counter() - t0, **seconds}


# ------------------------------------------------------------------------------------------ main

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="output folder of an `asm run` (default: the demo world, made once)")
    ap.add_argument("--threads", type=int, default=2, help="`asm report --threads` (default 2)")
    ap.add_argument("--repeats", type=int, default=3, help="paired measurements (default 3)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/asm-bench/reports"), help="work folder")
    ap.add_argument("--phases-child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.phases_child:
        print(json.dumps(phases(args.phases_child, args.threads)))
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    out = ensure_out(args)
    load_before = os.getloadavg()
    runs = []
    for i in range(args.repeats):
        step = timed(asm("report", "--out", str(out), "--threads", str(args.threads), "--quiet"))
        read = timed([sys.executable, "-c", READ, str(out)])
        copy_dir = args.work / "copy"
        shutil.rmtree(copy_dir, ignore_errors=True)
        copy = timed(["cp", "-r", str(out / "reports") + "/", str(copy_dir)])
        shutil.rmtree(copy_dir, ignore_errors=True)
        runs.append({"step": step, "read": read, "copy": copy})
        say(f"repeat {i + 1}: asm report {step:.2f}s, read {read:.2f}s, copy {copy:.2f}s")
    child = subprocess.run([sys.executable, __file__, "--phases-child", str(out), "--threads", str(args.threads)],
                           cwd=REPO, check=True, capture_output=True, text=True)
    phase = json.loads(child.stdout.strip().splitlines()[-1])
    load_after = os.getloadavg()
    files, size = folder_size(out / "reports")
    med = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
    ratio = lambda key: statistics.median(r["step"] / r[key] for r in runs)  # noqa: E731
    print(f"**reports step on {out}** (`asm report --threads {args.threads}`, {args.repeats} repeat(s); "
          f"{files:,} files, {size / 1e6:,.0f} MB written)\n")
    print("| measurement | seconds (median) | step / it (median of paired ratios) |\n|---|---|---|")
    print(f"| `asm report` (whole step, own process) | {med('step'):.2f} | |")
    print(f"| baseline: bare Polars read of the tables it reads | {med('read'):.2f} | {ratio('read'):.1f} |")
    print(f"| baseline: `cp -r` of the reports folder it writes | {med('copy'):.2f} | {ratio('copy'):.1f} |")
    print(f"\nPhases of one more run, in one process (nested phases indented; wall seconds summed over calls):\n")
    print("| phase | seconds |\n|---|---|")
    for label, secs in phase.items():
        print(f"| {label} | {'-' if secs is None else f'{secs:.2f}'} |")
    print(f"\nLoad average before {load_before[0]:.2f} / {load_before[1]:.2f}, after {load_after[0]:.2f} / "
          f"{load_after[1]:.2f} (1 / 5 min); {os.cpu_count()} cores.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
