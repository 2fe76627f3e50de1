"""Throughput of the synthetic claims generator.

    .venv/bin/python benchmarks/bench_generate.py [N_LINES] [--formats parquet,fixed] [--keep DIR]

Generates about N_LINES Part B lines (default 10,000,000) per format into a temporary folder and
prints Part B lines per second for each format.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.synthetic import generate  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("lines", nargs="?", type=int, default=10_000_000)
    ap.add_argument("--formats", default="parquet,fixed")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--keep", type=Path, default=None, help="write here and keep the output")
    args = ap.parse_args(argv)
    for fmt in args.formats.split(","):
        base = args.keep or Path(tempfile.mkdtemp(prefix="asm_bench_"))
        out = base / fmt
        t0 = time.perf_counter()
        try:
            s = generate(out, scale=args.lines, seed=args.seed, fmt=fmt)
            size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        finally:
            if args.keep is None:
                shutil.rmtree(base, ignore_errors=True)
        dt = time.perf_counter() - t0
        print(f"{fmt:8s} {s['partb_lines']:>12,} Part B lines  {dt:8.2f} s  "
              f"{s['partb_lines'] / dt:>12,.0f} lines/s  {size / 1e6:10.1f} MB", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
