"""Time the episode stage (E1-E6, A1-A3, C1-C4) against a bare DuckDB scan of the same partb_lines.

  .venv/bin/python benchmarks/bench_episodes.py --lines 10_000_000 [--threads 2] [--memory-limit 16GB]
  .venv/bin/python benchmarks/bench_episodes.py --lines 100_000_000 --repeats 3
  .venv/bin/python benchmarks/bench_episodes.py --partb OUT/warehouse/partb_lines.parquet

Without --partb it uses WORK/partb_lines.parquet (WORK defaults to /tmp/asm-bench/episodes-<N>), and
writes it first when missing or of another size: a synthetic partb_lines (ingest schema) of N lines
made by DuckDB in chunks of --chunk lines streamed into one Parquet file (bounded memory at any N;
run in a child process so its memory does not count below): ~N/25 beneficiaries, ~35% with HF/LBP
visits, 1,000 participants, 3 years of dates. One file, because the stage's line id is the Parquet
row number.

Then, --repeats times, alternately: the whole stage (fresh connection, writing the five Parquet
tables, DuckDB memory_limit / temp_directory as the stage sets them from run settings) and the bare
scan `SELECT bene_id, count(*), sum(cost_amount) FROM partb_lines GROUP BY bene_id` (fresh
connection). Pairing matters on a shared machine: each ratio compares a stage run with the scan run
right after it, and the summary quotes the median of the ratios (wall clock and process CPU time).
Peak RSS is this process's own ru_maxrss (stage and scans only).
"""
from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.engine.episodes import EPISODE_TABLES, EpisodeInputs, build_episode_tables, episode_params  # noqa: E402
from pipelines.engine.duck import connect  # noqa: E402
from pipelines.engine.sqlstage import write_query  # noqa: E402
from pipelines.engine.methodology import load_methodology  # noqa: E402

SYNTH = """
WITH l AS (SELECT range AS i, hash(range) AS h FROM range({start}, {stop}))
SELECT 'C' || (i // 4)::VARCHAR AS claim_control_number, (i % 4 + 1)::INTEGER AS line_number,
       'ID' || (i // 4)::VARCHAR AS claim_id, 'B' || (h % {benes})::VARCHAR AS bene_id,
       DATE '2025-01-01' + ((h >> 20) % 1095)::INTEGER AS service_date,
       DATE '2025-01-01' + ((h >> 20) % 1095)::INTEGER AS service_thru_date,
       CASE WHEN (h >> 8) % 20 = 0 THEN '72' ELSE '71' END AS claim_type,
       (['99214','99213','99204','99243','93306','83880','72148','62323','97110','80053','71046','36415'])[(1 + (h >> 12) % 12)::INTEGER] AS hcpcs,
       CASE WHEN (h >> 30) % 3 = 0 THEN NULL ELSE 'M1B' END AS betos,
       (['11','11','11','22','02','21'])[(1 + (h >> 16) % 6)::INTEGER] AS place_of_service, '1' AS type_of_service,
       CASE WHEN (h % {benes}) % 100 < 20 THEN (['I509','I5022','I10','E119'])[(1 + (h >> 24) % 4)::INTEGER]
            WHEN (h % {benes}) % 100 < 35 THEN (['M5450','M5416','M51360','Z0000'])[(1 + (h >> 24) % 4)::INTEGER]
            ELSE (['I10','E119','J449','Z0000'])[(1 + (h >> 24) % 4)::INTEGER] END AS line_dx,
       ['I10', 'E785'] AS claim_dx,
       'T' || ((h % {benes}) % 97)::VARCHAR AS tin, 'N' || ((h % {benes}) % 1000 + (h >> 40) % 2)::VARCHAR AS npi,
       '06' AS specialty, NULL::VARCHAR AS provider_zip, NULL::VARCHAR AS provider_state, 1.0 AS units,
       (50 + (h >> 4) % 200)::DECIMAL(18, 2) AS allowed_amount, (40 + (h >> 4) % 160)::DECIMAL(18, 2) AS paid_amount,
       (50 + (h >> 4) % 200)::DECIMAL(18, 2) AS cost_amount, 1.0 AS standardization_factor, 1::BIGINT AS versions,
       0::BIGINT AS cancels, 'bench' AS source_file, i AS source_row, 'bench' AS source_layout
FROM l
"""


def synthesize(path: Path, n: int, chunk: int, threads: int) -> None:
    """Write N synthetic lines to one Parquet file, chunk by chunk (same rows as one big query)."""
    import duckdb
    import pyarrow.parquet as pq

    con = duckdb.connect(":memory:")
    con.execute(f"SET threads = {int(threads)}")
    con.execute("SET preserve_insertion_order = true")
    tmp = path.with_name(f".{path.name}.tmp")
    writer = None
    t0 = time.perf_counter()
    try:
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            table = con.sql(SYNTH.format(start=start, stop=stop, benes=max(n // 25, 10))).to_arrow_table()
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
            writer.write_table(table, row_group_size=1_000_000)
            del table
            print(f"  synthetic partb_lines: {stop:,} / {n:,} lines ({time.perf_counter() - t0:.0f}s)", flush=True)
        writer.close()
        writer = None
        tmp.replace(path)
    finally:
        if writer is not None:
            writer.close()
        if tmp.exists():
            tmp.unlink()
    con.close()


def parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_scan(partb: Path, args, work: Path) -> tuple[float, float]:
    con = connect(args.threads, args.memory_limit, work / ".tmp")
    t0, c0 = time.perf_counter(), cpu_seconds()
    con.execute(f"SELECT bene_id, count(*), sum(cost_amount) FROM read_parquet('{partb}') GROUP BY bene_id").fetchall()
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    con.close()
    return wall, cpu


def run_stage(partb: Path, args, work: Path) -> tuple[float, float, dict, dict]:
    out = work / "out"
    out.mkdir(parents=True, exist_ok=True)
    con = connect(args.threads, args.memory_limit, work / ".tmp")
    t0, c0 = time.perf_counter(), cpu_seconds()
    facts = build_episode_tables(con, EpisodeInputs(partb), episode_params(load_methodology(2027)))
    for table in EPISODE_TABLES:
        write_query(con, f"SELECT * FROM {table}", out / f"{table}.parquet")
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in EPISODE_TABLES}
    con.close()
    return wall, cpu, facts["step_seconds"], counts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", default="1_000_000")
    ap.add_argument("--partb", type=Path, default=None, help="an existing partb_lines.parquet")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-limit", default="")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--repeats", type=int, default=3, help="stage/scan pairs, run alternately")
    ap.add_argument("--chunk", type=int, default=5_000_000, help="lines per synthesis chunk")
    ap.add_argument("--synth-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    n = int(args.lines.replace("_", ""))
    work = args.work or Path("/tmp/asm-bench/" + (f"episodes-{n}" if args.partb is None else "episodes-partb"))
    work.mkdir(parents=True, exist_ok=True)
    partb = args.partb
    if partb is None:
        partb = work / "partb_lines.parquet"
        if args.synth_only:
            synthesize(partb, n, args.chunk, args.threads)
            return
        if partb.exists() and parquet_rows(partb) == n:
            print(f"reusing {partb} ({n:,} lines)")
        else:  # a child process, so the synthesis does not count in this process's peak RSS
            t0 = time.perf_counter()
            subprocess.run([sys.executable, __file__, "--synth-only", "--lines", str(n), "--work", str(work),
                            "--chunk", str(args.chunk), "--threads", str(args.threads)], check=True)
            print(f"synthetic partb_lines: {n:,} lines in {time.perf_counter() - t0:.1f}s -> {partb}")
    lines = parquet_rows(partb)
    print(f"partb_lines: {lines:,} lines, {partb.stat().st_size / 1024 ** 3:.2f} GiB; threads {args.threads}, "
          f"memory_limit {args.memory_limit or 'DuckDB default'}", flush=True)

    pairs = []
    for i in range(args.repeats):
        stage, stage_cpu, steps, counts = run_stage(partb, args, work)
        scan, scan_cpu = run_scan(partb, args, work)
        pairs.append((stage, scan, stage_cpu, scan_cpu))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
        print(f"pair {i + 1}: stage {stage:.2f}s (cpu {stage_cpu:.1f}s)  scan {scan:.2f}s (cpu {scan_cpu:.1f}s)  "
              f"ratio {stage / scan:.2f}x (cpu {stage_cpu / scan_cpu:.2f}x)  peak RSS so far {peak:.2f} GiB", flush=True)
        print(f"  steps (s): {steps}", flush=True)
    print(f"rows: {counts}")
    med = statistics.median
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    print(f"SUMMARY lines={lines:,} repeats={args.repeats}: median stage {med(p[0] for p in pairs):.2f}s, "
          f"median bare scan {med(p[1] for p in pairs):.2f}s, median ratio {med(p[0] / p[1] for p in pairs):.2f}x "
          f"(ratios {', '.join(f'{p[0] / p[1]:.2f}' for p in pairs)}), median CPU ratio "
          f"{med(p[2] / p[3] for p in pairs):.2f}x, peak RSS {peak_gib:.2f} GiB, threads {args.threads}")


if __name__ == "__main__":
    main()
