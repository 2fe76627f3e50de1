"""Where the time of a whole `asm run` goes, step by step, and what the data-quality checks cost in it
(issue 6). The suite (benchmarks/suite.py) times the checks stage on its own; this times them inside
the real run.

    .venv/bin/python benchmarks/bench_checks.py --full-run INPUT [--workdir /tmp/asm_bench_checks] [--threads 0]

The whole `asm_all` job exactly as `asm run` executes it (in process, one step at a time), on an
existing input folder (e.g. the suite's /tmp/asm-bench/<N>-seed42/in). Step durations come from the
Dagster event log (STEP_START -> STEP_SUCCESS/FAILURE); the check steps are the `<asset>_dq` steps.
Prints every step, the total check time and its share of the run's wall time, and the checks' own
DuckDB and GX seconds (`seconds` metadata) per asset.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--full-run", type=Path, metavar="INPUT", required=True, help="time a full `asm run` on this input folder")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/asm_bench_checks"))
    p.add_argument("--threads", type=int, default=0, help="DuckDB threads (0 = all cores)")
    args = p.parse_args()
    full_run(args.full_run, args.workdir / f"full_{args.full_run.name}", args.threads)


def full_run(inp: Path, out: Path, threads: int) -> None:
    """Whole graph as `asm run` runs it; check steps' share of wall time from the event log."""
    import shutil

    from dagster import DagsterEventType, DagsterInstance

    from assets.definitions import ALL_JOB, build_definitions
    from pipelines.engine.settings import RunSettings

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
