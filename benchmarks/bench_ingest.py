"""Ingest throughput against a bare DuckDB copy of the same files, measured in the same run.

    .venv/bin/python benchmarks/bench_ingest.py --lines 10000000 [--formats fixed,parquet] [--repeat 3]

For each Part B input format it generates a synthetic input folder (once; kept in --workdir), then
times, as whole child processes, alternately:
  ingest    the ingest stage (all N1-N6 rules, every table, reconciliation) on the folder
  baseline  a bare DuckDB copy of the same CCLF5 files to Parquet: read_csv (one text column per
            record, as the fixed-width reader does) or read_parquet -> COPY ... TO parquet
and prints lines/s, the median ratio ingest/baseline and each side's peak memory (max RSS).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable

INGEST = """
import sys, json
from pipelines.ingest import run_ingest
from pipelines.methodology import load_methodology
from pipelines.settings import RunSettings
s = RunSettings(input_dir=sys.argv[1], out_dir=sys.argv[2], quiet=True)
r = run_ingest(s, load_methodology(2027))
import resource
print(json.dumps({"read": sum(f["rows_read"] for f in r.files if f["kind"] == "cclf5"), "partb_lines": r.row_counts["partb_lines"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

BASELINE = """
import sys, glob, duckdb
inp, out, fmt = sys.argv[1], sys.argv[2], sys.argv[3]
con = duckdb.connect()
if fmt == "parquet":
    files = sorted(glob.glob(inp + "/*ZC5*.parquet"))
    src = f"read_parquet({files!r})"
else:
    files = sorted(f for f in glob.glob(inp + "/*ZC5*") if "." not in f.rsplit("/", 1)[-1].split("ZC5", 1)[1].split(".T", 1)[-1])
    src = f"read_csv({files!r}, columns={{'line': 'VARCHAR'}}, header=false, delim=chr(31), quote='', escape='', auto_detect=false)"
con.execute(f"COPY (SELECT * FROM {src}) TO '{out}/baseline.parquet' (FORMAT parquet, COMPRESSION zstd)")
import json, resource
print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def timed(args: list[str]) -> tuple[float, dict]:
    """(wall seconds, the JSON the child printed last: counts and its own peak RSS)."""
    t0 = time.perf_counter()
    proc = subprocess.run(args, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(args[:3])}\n{proc.stderr[-3000:]}")
    return wall, json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=10_000_000)
    ap.add_argument("--formats", default="fixed,parquet")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/asm-bench"))
    args = ap.parse_args()
    results = {}
    for fmt in args.formats.split(","):
        inp = args.workdir / f"input-{fmt}-{args.lines}"
        if not (inp / "_truth" / "manifest.json").exists():
            print(f"[{fmt}] generating {args.lines:,} lines into {inp} ...", flush=True)
            t0 = time.perf_counter()
            subprocess.run([PY, "-m", "pipelines.cli", "generate", "--out", str(inp), "--scale", str(args.lines),
                            "--format", fmt, "--quiet"], cwd=REPO, check=True)
            print(f"[{fmt}] generated in {time.perf_counter() - t0:.1f}s", flush=True)
        ingest_times, base_times, ratios = [], [], []
        ingest_peak = base_peak = 0.0
        info = {}
        for i in range(args.repeat):
            out = args.workdir / f"out-{fmt}"
            out.mkdir(parents=True, exist_ok=True)
            w, info = timed([PY, "-c", INGEST, str(inp), str(out)])
            ingest_peak = max(ingest_peak, info["peak_rss_mb"])
            b, base = timed([PY, "-c", BASELINE, str(inp), str(out), fmt])
            base_peak = max(base_peak, base["peak_rss_mb"])
            ingest_times.append(w)
            base_times.append(b)
            ratios.append(w / b)
            print(f"[{fmt}] run {i + 1}: ingest {w:.1f}s, baseline {b:.1f}s, ratio {w / b:.2f}", flush=True)
        n = info["read"]
        results[fmt] = {
            "cclf5_rows_read": n, "partb_lines": info["partb_lines"],
            "ingest_median_s": round(statistics.median(ingest_times), 2),
            "baseline_median_s": round(statistics.median(base_times), 2),
            "ingest_lines_per_s": round(n / statistics.median(ingest_times)),
            "baseline_lines_per_s": round(n / statistics.median(base_times)),
            "ratio_median": round(statistics.median(ratios), 2),
            "ingest_peak_rss_mb": round(ingest_peak), "baseline_peak_rss_mb": round(base_peak),
        }
        print(json.dumps({fmt: results[fmt]}, indent=2), flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
