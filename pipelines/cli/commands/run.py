"""`asm run`: materialize every asset of the pipeline on an input folder, print the outcome."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines.cli.commands import CommandError, non_negative
from pipelines.cli.commands.report import parse_tins
from pipelines.engine.methodology import DEFAULT_PERFORMANCE_YEAR, MethodologyError, load_methodology

NAME = "run"
HELP = "materialize every asset of the pipeline on an input folder"


def _memory_size(value: str) -> str:
    from pipelines.engine.duck import duckdb_memory_limit

    try:
        duckdb_memory_limit(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _positive(value: str) -> int:
    n = non_negative(value)
    if n == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", required=True, type=Path, help="folder of claims and side files")
    p.add_argument("--out", required=True, type=Path,
                   help="output folder: warehouse/ and reports/ (links to the current snapshot), snapshots/, "
                        "run_summary.json; one run at a time")
    p.add_argument("--performance-year", default=DEFAULT_PERFORMANCE_YEAR, type=int, metavar="YEAR",
                   help="the PY to score: one configured in data/methodology/methodology.toml (2027-2031)")
    p.add_argument("--config", type=Path, default=None, help="methodology overrides (TOML, same structure as "
                   "data/methodology/methodology.toml)")
    p.add_argument("--tin", default="", help="restrict reports (not benchmarks) to these TINs, comma-separated")
    p.add_argument("--threads", default=0, type=non_negative,
                   help="DuckDB threads, and processes drawing scorecards (default 0: all cores)")
    p.add_argument("--memory-limit", default="", type=_memory_size,
                   help="memory budget of the run, e.g. 16GB: DuckDB gets 80%% of it and spills to OUT/.tmp beyond "
                        "that; the rest is room for Python (default: DuckDB's own, 80%% of RAM)")
    p.add_argument("--keep-snapshots", default=2, type=non_negative, metavar="N",
                   help="published snapshots kept in OUT/snapshots, the current one included (default 2)")
    p.add_argument("--retries", default=0, type=non_negative, metavar="N",
                   help="retry a step that failed for a transient reason (I/O, memory) N times (default 0)")
    p.add_argument("--shards", default=1, type=_positive, metavar="N",
                   help="split the beneficiaries into N hash shards: the episode stage runs one step per shard "
                        "(results do not depend on N; default 1)")
    p.add_argument("--workers", default=1, type=_positive, metavar="N",
                   help="run up to N steps at once, each in its own process (Dagster's multiprocess executor; "
                        "shard steps in parallel); default 1: every step in this process")
    p.add_argument("--remote-url", default="", metavar="URL",
                   help="object store the steps exchange tables through, e.g. s3://bucket/prefix (credentials and "
                        "endpoint from the AWS_* variables; docs/scale-out.md); default: local only")
    p.add_argument("--quiet", action="store_true", help="no progress output (for schedulers)")


def run(args) -> int:
    from pipelines.engine.outfolder import OutputFolderError, OutputInUse
    from assets.runner import run_pipeline
    from pipelines.engine.settings import RunSettings

    if not args.input.is_dir():
        raise CommandError(f"input folder not found: {args.input}")
    try:
        m = load_methodology(args.performance_year, args.config)
    except MethodologyError as exc:
        raise CommandError(str(exc)) from None
    settings = RunSettings(
        input_dir=args.input.resolve(), out_dir=args.out.resolve(), performance_year=args.performance_year,
        config_file=args.config.resolve() if args.config else None, threads=args.threads,
        memory_limit=args.memory_limit, quiet=args.quiet, keep_snapshots=args.keep_snapshots,
        step_retries=args.retries, tins=parse_tins(args.tin), shards=args.shards, workers=args.workers,
        remote_url=args.remote_url,
    )
    if args.remote_url:  # a wrong URL, endpoint or credentials: one line before the run starts
        from assets.runtime.remote import RemoteError, RemoteStore
        try:
            RemoteStore(args.remote_url).check()
        except RemoteError as exc:
            raise CommandError(str(exc)) from None
    if not args.quiet:
        print(f"asm run: PY {settings.performance_year}, methodology {m.label}, input {settings.input_dir}",
              file=sys.stderr)
    try:
        outcome = run_pipeline(settings)
    except (OutputFolderError, OutputInUse) as exc:
        raise CommandError(str(exc)) from None
    if outcome.stale_lock and not args.quiet:
        print(f"asm run: note: {outcome.stale_lock}", file=sys.stderr)
    for warning in outcome.warnings:
        print(f"asm run: warning: {warning}", file=sys.stderr)
    if not outcome.success:
        raise CommandError(outcome.reason)
    if args.remote_url:  # a push fails in the resource's teardown, which Dagster does not count as a failure
        _refuse_failed_push(settings, outcome.run_id)
    print(render_summary(outcome, settings))
    return 0


def _refuse_failed_push(settings, run_id: str) -> None:
    from assets.runtime.resources import push_failure
    from assets.runtime.runrecord import open_instance

    with open_instance(settings.out_dir) as instance:
        why = push_failure(instance, run_id)
    if why:
        raise CommandError(f"the run's tables were not all pushed to {settings.remote_url}: {why}; run again")


def render_summary(outcome, settings) -> str:
    from assets.runtime.runrecord import instance_home

    lines = [f"asm run: success in {outcome.seconds:.1f}s (PY {settings.performance_year})"]
    ingest = outcome.materialized.get("partb_lines", {})
    if ingest:
        lines.append(
            f"  input rows: {ingest.get('rows_read', 0):,} read = {ingest.get('rows_loaded', 0):,} loaded + "
            f"{ingest.get('rows_excluded', 0):,} excluded + {ingest.get('rows_quarantined', 0):,} quarantined"
        )
        ignored = ingest.get("ignored_files") or []
        if ignored:
            lines.append(f"  ignored files: {', '.join(ignored)}")
    lines.append("  tables (rows):")
    for name, md in outcome.materialized.items():
        if name in ("publish", "reports", "run_summary"):  # publish and reports below
            continue
        lines.append(f"    {name:<28} {md.get('dagster/row_count', 0):>12,}")
    failed = [c for c in outcome.checks if not c["passed"]]
    if outcome.checks:
        lines.append(f"  checks: {len(outcome.checks) - len(failed)} passed, {len(failed)} warnings"
                     f" (history: {settings.out_dir / 'dq_results'})")
    published = outcome.materialized.get("publish", {})
    lines.append(f"  run:       {outcome.run_id} (recorded in {instance_home(settings.out_dir)}; `make ui` or "
                 "`dagster dev` shows it)")
    lines.append(f"  warehouse: {settings.warehouse_dir} -> {published.get('snapshot', '?')}")
    n_reports = outcome.materialized.get("reports", {}).get("tin_reports")
    lines.append(f"  reports:   {settings.reports_dir}"
                 + (f" ({n_reports} TIN scorecards + cohort_summary.html)" if n_reports is not None else ""))
    lines.append(f"  summary:   {settings.out_dir / 'run_summary.json'}")
    return "\n".join(lines)
