"""What the data-quality checks cost as a share of ingest time (issue 6).

    .venv/bin/python benchmarks/bench_checks.py 10000000 [--workdir /tmp/asm_bench_checks] [--threads 0]

Generates a synthetic input of N Part B lines once (kept in --workdir; `asm generate`), runs the
ingest stage, then every ingest suite (`expectations/*.json`, DuckDB + GX engines, dq_results
appended) on the tables it wrote, and prints both times and the ratio checks / ingest. The GX
import (a one-off per process, ~3 s) is timed separately and included in the checks total.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("lines", type=int, help="Part B claim lines to generate")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/asm_bench_checks"))
    p.add_argument("--threads", type=int, default=0, help="DuckDB threads (0 = all cores)")
    args = p.parse_args()

    inp = args.workdir / f"in_{args.lines}"
    out = args.workdir / f"out_{args.lines}"
    if not inp.is_dir():
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pipelines.cli", "generate", "--out", str(inp), "--scale",
                        str(args.lines), "--quiet"], cwd=REPO, check=True)
        print(f"generated {args.lines:,} lines in {time.perf_counter() - t0:.1f}s", flush=True)

    from assets.checks import evaluate_asset, load_suite
    from assets.ingest import INGEST_TABLES, run_ingest
    from pipelines.methodology import load_methodology
    from pipelines.settings import RunSettings

    settings = RunSettings(input_dir=inp, out_dir=out, quiet=True, threads=args.threads, run_tag="bench")
    t0 = time.perf_counter()
    result = run_ingest(settings, load_methodology(2027))
    ingest_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    import great_expectations  # noqa: F401  one-off per process
    import_s = time.perf_counter() - t0

    per_asset = {}
    for table in INGEST_TABLES:
        t0 = time.perf_counter()
        err, warn = evaluate_asset(table, settings, "bench")
        per_asset[table] = (time.perf_counter() - t0, len(load_suite(table)["expectations"]), err.passed, warn.passed)
    checks_s = import_s + sum(s for s, *_ in per_asset.values())

    print(f"lines read {sum(f['rows_read'] for f in result.files):,}; partb_lines {result.row_counts['partb_lines']:,}")
    for table, (s, n, ok, wok) in per_asset.items():
        print(f"  {table:<16} {n:>3} expectations {s:7.2f}s  errors {'pass' if ok else 'FAIL'}  warnings {'pass' if wok else 'WARN'}")
    print(f"ingest {ingest_s:.2f}s")
    print(f"checks {checks_s:.2f}s (of which GX import {import_s:.2f}s)")
    print(f"ratio  checks/ingest = {checks_s / ingest_s:.1%}")


if __name__ == "__main__":
    main()
