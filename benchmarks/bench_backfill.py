"""The monthly trend against one run (issue 18 item 6: a year of `asm backfill --monthly` within 3x one `asm run`).

    .venv/bin/python benchmarks/bench_backfill.py [--input data/sample/input] [--from 2027-01] [--to 2027-12]
                                                  [--pairs 3] [--threads 0] [--workdir /tmp/asm_bench_backfill]
                                                  [--old-month 2027-06]

Each pair runs, as a person types them, each a fresh process timed whole (start-up, imports, Dagster):
  A  `asm backfill --monthly --input IN --out W/backfill --from F --to T --quiet` (its scratch folder and
     staging cache start empty every time: the backfill removes them at start and at the end);
  B  `asm run --input IN --out W/run --quiet` on a fresh W/run (cold: nothing cached, every check, reports,
     publish).
A and B alternate (A B A B ...) and the ratio A/B is taken pair by pair, so a slower or faster machine moment
hits both sides; the median ratio is quoted. Wall seconds from a monotonic clock around each child; CPU
seconds and peak RSS from the kernel's accounting of the reaped child (`os.wait4`). `--old-month M` also
times, once, what one month cost before issue 18: a whole `asm run` on the files delivered up to M's end.
The script measures; it never judges. Unit tests never run it.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.engine.projection.history import delivery_months, month_subset  # noqa: E402


def timed(cmd: list[str]) -> dict:
    """Run `cmd` (output discarded), return wall, cpu seconds and peak RSS (GB) of the reaped child."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    code = proc.returncode = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} exited with {code}: {stderr.decode()[-500:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak_gb": usage.ru_maxrss * 1024 / 1e9}


def asm(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipelines.cli", *args]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", type=Path, default=REPO / "data" / "sample" / "input")
    ap.add_argument("--from", dest="first", default="2027-01")
    ap.add_argument("--to", dest="last", default="2027-12")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="DuckDB threads of both commands (0: all cores)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/asm_bench_backfill"))
    ap.add_argument("--old-month", default="", help="also time one month as a whole run (the backfill before issue 18)")
    args = ap.parse_args(argv)
    inp, work = args.input.resolve(), args.workdir
    months = delivery_months(inp, args.first, args.last)
    threads = ["--threads", str(args.threads)]
    backfill = asm("backfill", "--monthly", "--input", str(inp), "--out", str(work / "backfill"),
                   "--from", args.first, "--to", args.last, "--quiet", *threads)
    run = asm("run", "--input", str(inp), "--out", str(work / "run"), "--quiet", *threads)
    print(f"input {inp}: {len(months)} delivery months ({months[0]} .. {months[-1]}); {args.pairs} pairs, "
          f"load average {os.getloadavg()[0]:.1f}")
    pairs = []
    for i in range(args.pairs):
        a = timed(backfill)
        shutil.rmtree(work / "run", ignore_errors=True)
        b = timed(run)
        pairs.append((a, b))
        print(f"pair {i + 1}: backfill {a['wall']:.1f}s (cpu {a['cpu']:.1f}s, {a['peak_gb']:.2f} GB), "
              f"run {b['wall']:.1f}s (cpu {b['cpu']:.1f}s, {b['peak_gb']:.2f} GB), ratio {a['wall'] / b['wall']:.2f}")
    a_med = statistics.median(a["wall"] for a, _ in pairs)
    b_med = statistics.median(b["wall"] for _, b in pairs)
    ratio = statistics.median(a["wall"] / b["wall"] for a, b in pairs)
    print(f"median: backfill of {len(months)} months {a_med:.1f}s ({a_med / len(months):.1f}s a month), "
          f"one run {b_med:.1f}s, backfill / run {ratio:.2f}x (pairs {min(a['wall'] / b['wall'] for a, b in pairs):.2f}"
          f"-{max(a['wall'] / b['wall'] for a, b in pairs):.2f}); load average {os.getloadavg()[0]:.1f}")
    if args.old_month:
        subset = work / f"input-{args.old_month}"
        shutil.rmtree(subset, ignore_errors=True)
        files = month_subset(inp, args.old_month, subset)
        shutil.rmtree(work / "old-month", ignore_errors=True)
        old = timed(asm("run", "--input", str(subset), "--out", str(work / "old-month"), "--quiet", *threads))
        print(f"one month as a whole run (before issue 18), {args.old_month} ({files} claims files): "
              f"{old['wall']:.1f}s (cpu {old['cpu']:.1f}s, {old['peak_gb']:.2f} GB)")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
