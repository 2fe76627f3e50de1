"""`asm`: the command line users, schedulers and tests call.

  asm generate --out DIR [--scale small|medium|large|N_LINES] [--seed N] [--format fixed|csv|parquet|rif]
  asm run --input DIR --out DIR [--performance-year 2027] [--config FILE] [--tin T1,T2] [--quiet]
Exit status is non-zero on failure, with a one-line reason on stderr.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines.methodology import MethodologyError, load_methodology


def _scale(value: str):
    if value in ("small", "medium", "large"):
        return value
    try:
        n = int(value.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError("scale is small, medium, large or a number of claim lines") from None
    if n <= 0:
        raise argparse.ArgumentTypeError("number of claim lines must be positive")
    return n


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="asm", description="CMS Ambulatory Specialty Model engine.")
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="write a synthetic input folder in the real CMS layouts")
    g.add_argument("--out", required=True, type=Path, help="folder to write the inputs to")
    g.add_argument("--scale", default="small", type=_scale, help="small | medium | large | N claim lines")
    g.add_argument("--seed", default=42, type=int)
    g.add_argument("--format", dest="fmt", default="fixed", choices=["fixed", "csv", "parquet", "rif"],
                   help="Part B layout: CCLF5 fixed-width (default), CSV, Parquet, or RIF carrier")
    g.add_argument("--quiet", action="store_true")

    r = sub.add_parser("run", help="materialize every asset of the pipeline on an input folder")
    r.add_argument("--input", required=True, type=Path, help="folder of claims and side files")
    r.add_argument("--out", required=True, type=Path, help="output folder (warehouse/, reports/)")
    r.add_argument("--performance-year", default=2027, type=int)
    r.add_argument("--config", type=Path, default=None, help="methodology overrides (TOML)")
    r.add_argument("--tin", default="", help="restrict reports (not benchmarks) to these TINs, comma-separated")
    r.add_argument("--threads", default=0, type=int, help="DuckDB threads (default: all cores)")
    r.add_argument("--memory-limit", default="", help="DuckDB memory limit, e.g. 16GB")
    r.add_argument("--quiet", action="store_true", help="no progress output (for schedulers)")
    return p


def _err(message: str) -> int:
    print(f"asm: error: {message}", file=sys.stderr)
    return 1


def cmd_generate(args) -> int:
    from pipelines.generate import generate

    progress = None if args.quiet else (lambda m: print(f"  {m}", file=sys.stderr, flush=True))
    summary = generate(args.out, scale=args.scale, seed=args.seed, fmt=args.fmt, progress=progress)
    lines = summary.get("partb_lines") or summary.get("lines") or 0
    secs = summary.get("seconds") or 0
    print(f"generated {lines:,} Part B claim lines in {secs:.1f}s into {args.out}")
    return 0


def cmd_run(args) -> int:
    from pipelines.runner import run_pipeline
    from pipelines.settings import RunSettings

    if not args.input.is_dir():
        return _err(f"input folder not found: {args.input}")
    try:
        load_methodology(args.performance_year, args.config)
    except MethodologyError as exc:
        return _err(str(exc))
    settings = RunSettings(
        input_dir=args.input.resolve(), out_dir=args.out.resolve(), performance_year=args.performance_year,
        config_file=args.config.resolve() if args.config else None, threads=args.threads,
        memory_limit=args.memory_limit, quiet=args.quiet,
        tins=tuple(t.strip() for t in args.tin.split(",") if t.strip()),
    )
    if not args.quiet:
        print(f"asm run: PY {settings.performance_year}, input {settings.input_dir}", file=sys.stderr)
    outcome = run_pipeline(settings)
    if not outcome.success:
        return _err(outcome.reason)
    print(render_summary(outcome, settings))
    return 0


def render_summary(outcome, settings) -> str:
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
        if name in ("publish", "reports"):  # issue 6: the staging -> warehouse step; reports below
            continue
        lines.append(f"    {name:<28} {md.get('dagster/row_count', 0):>12,}")
    failed = [c for c in outcome.checks if not c["passed"]]
    if outcome.checks:
        lines.append(f"  checks: {len(outcome.checks) - len(failed)} passed, {len(failed)} warnings"
                     f" (history: {settings.out_dir / 'dq_results'})")
    lines.append(f"  warehouse: {settings.warehouse_dir}")
    n_reports = outcome.materialized.get("reports", {}).get("tin_reports")
    lines.append(f"  reports:   {settings.reports_dir}"
                 + (f" ({n_reports} TIN scorecards + cohort_summary.html)" if n_reports is not None else ""))
    lines.append(f"  summary:   {settings.out_dir / 'run_summary.json'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "generate":
            return cmd_generate(args)
        return cmd_run(args)
    except KeyboardInterrupt:
        return _err("interrupted")


if __name__ == "__main__":
    sys.exit(main())
