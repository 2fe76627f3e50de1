"""What the data-quality checks cost as a share of pipeline time (issue 6).

    .venv/bin/python benchmarks/bench_checks.py 10000000 [--workdir /tmp/asm_bench_checks] [--threads 0]
    .venv/bin/python benchmarks/bench_checks.py --full-run /tmp/asm-bench/input-parquet-10000000 [--workdir ...]

Ingest mode (default): generates a synthetic input of N Part B lines once (kept in --workdir;
`asm generate`), runs the ingest stage, then every ingest suite (`expectations/*.json`, DuckDB + GX
engines, dq_results appended) on the tables it wrote, and prints both times and the ratio
checks / ingest. The GX import (a one-off per process, ~3 s) is timed separately and included.

Full-run mode (`--full-run INPUT`): the whole `asm_all` job exactly as `asm run` executes it (in
process, one step at a time), on an existing input folder. Step durations come from the Dagster
event log (STEP_START -> STEP_SUCCESS/FAILURE); the check steps are the `<asset>_dq` steps. Prints
every step, the total check time and its share of the run's wall time, and the checks' own DuckDB
and GX seconds (`seconds` metadata) per asset.
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
    p.add_argument("lines", type=int, nargs="?", default=0, help="Part B claim lines to generate (ingest mode)")
    p.add_argument("--full-run", type=Path, metavar="INPUT", help="time a full `asm run` on this input folder")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/asm_bench_checks"))
    p.add_argument("--threads", type=int, default=0, help="DuckDB threads (0 = all cores)")
    args = p.parse_args()
    if args.full_run:
        return full_run(args.full_run, args.workdir / f"full_{args.full_run.name}", args.threads)
    if args.lines <= 0:
        p.error("give the number of lines (ingest mode) or --full-run INPUT")

    inp = args.workdir / f"in_{args.lines}"
    out = args.workdir / f"out_{args.lines}"
    if not inp.is_dir():
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pipelines.cli", "generate", "--out", str(inp), "--scale",
                        str(args.lines), "--quiet"], cwd=REPO, check=True)
        print(f"generated {args.lines:,} lines in {time.perf_counter() - t0:.1f}s", flush=True)

    from pipelines.quality_gates import evaluate, load_suite
    from pipelines.ingest import INGEST_TABLES, run_ingest
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
        ev = evaluate(table, settings, "bench")
        per_asset[table] = (time.perf_counter() - t0, len(load_suite(table)["expectations"]), not ev.failed_errors,
                            all(o.passed for o in ev.warnings))
    checks_s = import_s + sum(s for s, *_ in per_asset.values())

    print(f"lines read {sum(f['rows_read'] for f in result.files):,}; partb_lines {result.row_counts['partb_lines']:,}")
    for table, (s, n, ok, wok) in per_asset.items():
        print(f"  {table:<16} {n:>3} expectations {s:7.2f}s  errors {'pass' if ok else 'FAIL'}  warnings {'pass' if wok else 'WARN'}")
    print(f"ingest {ingest_s:.2f}s")
    print(f"checks {checks_s:.2f}s (of which GX import {import_s:.2f}s)")
    print(f"ratio  checks/ingest = {checks_s / ingest_s:.1%}")


def full_run(inp: Path, out: Path, threads: int) -> None:
    """Whole graph as `asm run` runs it; check steps' share of wall time from the event log."""
    import shutil

    from dagster import DagsterEventType, DagsterInstance

    from pipelines.definitions import ALL_JOB, build_definitions
    from pipelines.settings import RunSettings

    if out.exists():
        shutil.rmtree(out)
    settings = RunSettings(input_dir=inp, out_dir=out, quiet=True, threads=threads)
    defs = build_definitions(settings)
    job = defs.resolve_job_def(ALL_JOB)
    with DagsterInstance.ephemeral() as instance:
        t0 = time.perf_counter()
        result = job.execute_in_process(instance=instance, raise_on_error=False,
                                        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}})
        wall = time.perf_counter() - t0
        start, dur, ok, reasons = {}, {}, {}, {}
        for rec in instance.all_logs(result.run_id):
            ev = rec.dagster_event
            if ev is None or not ev.step_key:
                continue
            if ev.event_type == DagsterEventType.STEP_START:
                start[ev.step_key] = rec.timestamp
            elif ev.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
                dur[ev.step_key] = rec.timestamp - start.get(ev.step_key, rec.timestamp)
                ok[ev.step_key] = ev.event_type == DagsterEventType.STEP_SUCCESS
                if not ok[ev.step_key]:
                    data = ev.event_specific_data
                    err = data.user_failure_data.description if data.user_failure_data else None
                    cause = data.error
                    while cause is not None and cause.cause is not None:
                        cause = cause.cause
                    reasons[ev.step_key] = err or (cause.message.strip().splitlines()[0] if cause else "failed")
        suite_s, expectations, failed = {}, {}, []
        for ev in result.all_events:
            if ev.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
                data = ev.event_specific_data
                asset = data.asset_key.to_user_string()
                md = {k: getattr(v, "value", v) for k, v in (data.metadata or {}).items()}
                suite_s[asset] = float(md.get("seconds", 0.0))
                expectations[asset] = expectations.get(asset, 0) + int(md.get("expectations", 0))
                if not data.passed:
                    failed.append(f"{asset}/{data.check_name} ({data.severity.value if data.severity else ''})")
    rows = {}
    mat = out / ".staging" / result.run_id
    for name in ("partb_lines", "episodes", "episode_lines", "episode_attribution", "participant_scores"):
        for where in (out / "warehouse" / f"{name}.parquet", mat / f"{name}.parquet"):
            if where.exists():
                import duckdb
                rows[name] = duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{where}')").fetchone()[0]
                break
    checks = {k: v for k, v in dur.items() if k.endswith("_dq")}
    assets = {k: v for k, v in dur.items() if not k.endswith("_dq")}
    check_s, asset_s = sum(checks.values()), sum(assets.values())
    print(f"full run on {inp}: {'success' if result.success else 'FAILED'}; " + ", ".join(f"{k} {v:,}" for k, v in rows.items()))
    print("asset steps:")
    for k, v in sorted(assets.items(), key=lambda kv: -kv[1]):
        print(f"  {k:<28} {v:8.2f}s{'' if ok.get(k) else '  FAILED: ' + reasons.get(k, '')[:300]}")
    print("check steps (suite seconds = DuckDB + GX evaluation inside the step):")
    for k, v in sorted(checks.items(), key=lambda kv: -kv[1]):
        a = k[:-3]
        print(f"  {k:<28} {v:8.2f}s  suite {suite_s.get(a, 0):7.2f}s  {expectations.get(a, 0):>3} expectations")
    if failed:
        print("failed checks: " + "; ".join(failed))
    print(f"wall {wall:.1f}s; asset steps {asset_s:.1f}s; check steps {check_s:.1f}s "
          f"(suites {sum(suite_s.values()):.1f}s); other (Dagster, publish bookkeeping) {wall - asset_s - check_s:.1f}s")
    print(f"ratio  check steps / run wall time = {check_s / wall:.1%}; check steps / asset steps = {check_s / asset_s:.1%}")


if __name__ == "__main__":
    main()
