"""One measured thing in its own process, so that its peak RSS is its own (benchmarks/suite.py runs it).

    python benchmarks/child.py WHAT --input IN --out OUT [--threads 2] [--memory-limit 20GB]

WHAT is a baseline (`scan`, `copy`: see DEFINITIONS in benchmarks/report.py) or a stage (`ingest`,
`episodes`, `eligibility`, `episode_risk`, `scoring`, `projection`, `reports`, `checks`). Stages run the engine
functions the assets call, on OUT (tables straight to OUT/warehouse, no Dagster run). The timed part
excludes interpreter start-up and imports (the GX import of `checks` is timed: it is paid once per
run). The last line printed is JSON: seconds, steps (name -> seconds), rows (table -> rows), notes.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SCAN_SQL = ("SELECT BENE_MBI_ID, count(*), sum(TRY_CAST(CLM_LINE_ALOWD_CHRG_AMT AS DECIMAL(18,2))) "
            "FROM read_parquet('{input}/*ZC5*.parquet') GROUP BY 1")
COPY_SQL = ("COPY (SELECT * FROM read_parquet('{input}/*ZC5*.parquet')) TO '{target}' "
            "(FORMAT parquet, COMPRESSION zstd)")


class Timer:
    """Named wall-clock steps, in order."""

    def __init__(self):
        self.steps: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.steps[name] = self.steps.get(name, 0.0) + now - self._t
        self._t = now


def _bare_connection(args):
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute(f"SET threads = {int(args.threads)}")
    if args.memory_limit:
        con.execute("SET memory_limit = ?", [args.memory_limit])
    tmp = args.out / ".tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    con.execute("SET temp_directory = ?", [str(tmp)])
    return con


def bare_scan(args, settings, m) -> dict:
    con = _bare_connection(args)
    t0 = time.perf_counter()
    groups = len(con.execute(SCAN_SQL.format(input=args.input)).fetchall())
    return {"seconds": time.perf_counter() - t0, "rows": {"beneficiaries": groups}}


def bare_copy(args, settings, m) -> dict:
    con = _bare_connection(args)
    target = args.out / "bare_copy.parquet"
    t0 = time.perf_counter()
    rows = con.execute(COPY_SQL.format(input=args.input, target=target)).fetchone()[0]
    seconds = time.perf_counter() - t0
    size = target.stat().st_size
    target.unlink()
    return {"seconds": seconds, "rows": {"copied": rows}, "notes": {"bytes": size}}


def ingest(args, settings, m) -> dict:
    from pipelines.engine.ingest import run_ingest

    t0 = time.perf_counter()
    r = run_ingest(settings, m)
    return {"seconds": time.perf_counter() - t0, "steps": r.step_seconds, "rows": r.row_counts,
            "notes": {"staged_files": r.staged_files, "restaged_files": r.restaged_files,
                      "unreconciled": len(r.unreconciled), "netting": r.netting}}


def episodes(args, settings, m) -> dict:
    from pipelines.engine.episodes import run_episodes

    t0 = time.perf_counter()
    r = run_episodes(settings, m)
    steps: dict[str, float] = {}  # per step over every shard, then the cohort steps (C4)
    for part in [*r.summary["step_seconds"]["shards"], r.summary["step_seconds"]["cohort"]]:
        for name, s in part.items():
            steps[name] = steps.get(name, 0.0) + s
    return {"seconds": time.perf_counter() - t0, "steps": steps, "rows": r.row_counts}


def eligibility(args, settings, m) -> dict:
    from pipelines.engine.scoring.stage import compute_eligibility

    t = Timer()
    table, _ = compute_eligibility(settings, m)
    t.lap("compute_eligibility")
    settings.warehouse.write("eligibility", table)
    t.lap("write eligibility")
    return {"seconds": sum(t.steps.values()), "steps": t.steps, "rows": {"eligibility": table.height}}


def episode_risk(args, settings, m) -> dict:
    from pipelines.engine.scoring.stage import compute_episode_risk

    t = Timer()
    elig = settings.warehouse.read("eligibility")
    t.lap("read eligibility")
    table, models = compute_episode_risk(settings, m, elig)
    t.lap("compute_episode_risk")
    settings.warehouse.write("episode_risk", table)
    settings.warehouse.write("risk_models", models)
    t.lap("write episode_risk")
    return {"seconds": sum(t.steps.values()), "steps": t.steps, "rows": {"episode_risk": table.height}}


def scoring(args, settings, m) -> dict:
    from pipelines.engine.scoring.stage import SCORING_TABLES, compute_scores

    t = Timer()
    tables, _ = compute_scores(settings, m)
    t.lap("compute_scores")
    for name in SCORING_TABLES:
        settings.warehouse.write(name, tables[name])
    t.lap("write scoring tables")
    return {"seconds": sum(t.steps.values()), "steps": t.steps, "rows": {k: v.height for k, v in tables.items()}}


def projection(args, settings, m) -> dict:
    from pipelines.engine.projection import run_projection

    t0 = time.perf_counter()
    tables, _ = run_projection(settings, m)
    return {"seconds": time.perf_counter() - t0, "rows": {k: v.height for k, v in tables.items()}}


def steering(args, settings, m) -> dict:
    from pipelines.engine.steering.stage import run_steering

    t0 = time.perf_counter()
    tables, _ = run_steering(settings, m)
    return {"seconds": time.perf_counter() - t0, "rows": {k: v.height for k, v in tables.items()}}


def reports(args, settings, m) -> dict:
    from pipelines.engine.reports import write_reports

    t0 = time.perf_counter()
    info = write_reports(settings, m)
    return {"seconds": time.perf_counter() - t0, "rows": {"tin_reports": len(info["tins"])}}


def checks(args, settings, m) -> dict:
    """Every asset with a suite whose table the earlier stages wrote (blocking and warning checks)."""
    from pipelines.engine.quality_gates import available_suites, evaluate

    t = Timer()
    import great_expectations  # noqa: F401  paid once per process, as in a run
    t.lap("import great_expectations")
    failed = []
    for asset in available_suites():
        if settings.warehouse.exists(asset):
            ev = evaluate(asset, settings, "bench")
            t.lap(f"suite {asset}")
            failed += [asset] if ev.failed_errors else []
    return {"seconds": sum(t.steps.values()), "steps": t.steps, "rows": {"suites": len(t.steps) - 1},
            "notes": {"failed_blocking": failed}}


RUNS = {"scan": bare_scan, "copy": bare_copy, "ingest": ingest, "episodes": episodes, "eligibility": eligibility,
        "episode_risk": episode_risk, "scoring": scoring, "projection": projection, "steering": steering,
        "reports": reports, "checks": checks}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=sorted(RUNS))
    ap.add_argument("--input", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-limit", default="")
    ap.add_argument("--tin", default="", help="reports: only these TINs' scorecards (comma-separated)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    from pipelines.engine.methodology import load_methodology
    from pipelines.engine.settings import RunSettings

    settings = RunSettings(input_dir=args.input, out_dir=args.out, quiet=True, threads=args.threads,
                           memory_limit=args.memory_limit, tins=tuple(t for t in args.tin.split(",") if t))
    args.out.mkdir(parents=True, exist_ok=True)
    result = RUNS[args.what](args, settings, load_methodology(settings.performance_year))
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
