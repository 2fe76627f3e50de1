"""Time the episode stage (E1-E6, A1-A3, C1-C4) against a bare DuckDB scan of the same partb_lines.

  .venv/bin/python benchmarks/bench_episodes.py --lines 10_000_000 [--threads 2] [--memory-limit 16GB]
  .venv/bin/python benchmarks/bench_episodes.py --partb OUT/warehouse/partb_lines.parquet

Without --partb it writes a synthetic partb_lines Parquet (ingest schema) of N lines straight from
DuckDB: ~N/25 beneficiaries, ~35% with HF/LBP visits, 1,000 participants, 3 years of dates. It then
runs the whole stage (writing the five Parquet tables) and the bare scan
`SELECT bene_id, count(*), sum(cost_amount) FROM partb_lines GROUP BY bene_id`, and prints seconds,
peak RSS of this process and the ratio.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assets.episodes import EPISODE_TABLES, EpisodeInputs, build_episode_tables, episode_params  # noqa: E402
from pipelines.duck import connect, write_parquet  # noqa: E402
from pipelines.methodology import load_methodology  # noqa: E402

SYNTH = """
WITH l AS (SELECT range AS i, hash(range) AS h FROM range({n}))
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", default="1_000_000")
    ap.add_argument("--partb", type=Path, default=None, help="an existing partb_lines.parquet")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-limit", default="")
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_episodes_"))
    work.mkdir(parents=True, exist_ok=True)
    con = connect(args.threads, args.memory_limit, work / ".tmp")
    partb = args.partb
    if partb is None:
        n = int(args.lines.replace("_", ""))
        partb = work / "partb_lines.parquet"
        t0 = time.perf_counter()
        write_parquet(con, SYNTH.format(n=n, benes=max(n // 25, 10)), partb)
        print(f"synthetic partb_lines: {n:,} lines in {time.perf_counter() - t0:.1f}s -> {partb}")
    con.close()

    con = connect(args.threads, args.memory_limit, work / ".tmp")
    t0 = time.perf_counter()
    con.execute(f"SELECT bene_id, count(*), sum(cost_amount) FROM read_parquet('{partb}') GROUP BY bene_id").fetchall()
    scan = time.perf_counter() - t0
    con.close()

    con = connect(args.threads, args.memory_limit, work / ".tmp")
    t0 = time.perf_counter()
    facts = build_episode_tables(con, EpisodeInputs(partb), episode_params(load_methodology(2027)))
    for table in EPISODE_TABLES:
        write_parquet(con, f"SELECT * FROM {table}", work / f"{table}.parquet")
    stage = time.perf_counter() - t0
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in EPISODE_TABLES}
    con.close()
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    print(f"rows: {counts}")
    print(f"steps (s): {facts['step_seconds']}")
    print(f"bare scan: {scan:.2f}s  episode stage: {stage:.2f}s  ratio: {stage / scan:.1f}x  "
          f"peak RSS: {peak_gib:.2f} GiB  threads: {args.threads}")


if __name__ == "__main__":
    main()
