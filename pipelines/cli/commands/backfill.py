"""`asm backfill --monthly`: fill the projection history (OUT/history/projected_scores/) by replaying the input
folder's deliveries month by month: for each delivery month, a run on the files delivered up to that month's
end (links in a scratch folder), whose projected scores are appended under that subset's last service date.
OUT/warehouse and OUT/reports are not touched; run `asm run` for the current snapshot."""
from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

from pipelines.cli.commands import CommandError
from pipelines.engine.methodology import DEFAULT_PERFORMANCE_YEAR, MethodologyError, load_methodology

NAME = "backfill"
HELP = "fill the projection history by replaying the deliveries month by month"


def _month(value: str) -> str:
    if not re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", value):
        raise argparse.ArgumentTypeError("a month is YYYY-MM")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--monthly", action="store_true", required=True, help="replay one delivery month at a time")
    p.add_argument("--input", required=True, type=Path, help="folder of claims and side files")
    p.add_argument("--out", required=True, type=Path, help="output folder whose history/ is filled")
    p.add_argument("--performance-year", default=DEFAULT_PERFORMANCE_YEAR, type=int, help="the PY to score (2027-2031)")
    p.add_argument("--from", dest="first", type=_month, default=None,
                   help="first delivery month to replay (default: January of the PY)")
    p.add_argument("--to", dest="last", type=_month, default=None, help="last delivery month (default: the latest)")
    p.add_argument("--config", type=Path, default=None, help="methodology overrides (TOML)")
    p.add_argument("--threads", default=0, type=int, help="DuckDB threads (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def run(args) -> int:
    from pipelines.engine.projection.history import move_history, delivery_months, month_subset
    from assets.runner import run_pipeline
    from pipelines.engine.settings import RunSettings

    if not args.input.is_dir():
        raise CommandError(f"input folder not found: {args.input}")
    try:
        load_methodology(args.performance_year, args.config)
    except MethodologyError as exc:
        raise CommandError(str(exc)) from None
    months = delivery_months(args.input, args.first or f"{args.performance_year}-01", args.last)
    if not months:
        raise CommandError(f"no claims file of {args.input} was delivered in the months asked for "
                           "(file names carry the delivery date as .Dyymmdd.)")
    out = args.out.resolve()
    scratch = out / ".backfill"
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        for month in months:
            subset = scratch / f"input-{month}"
            files = month_subset(args.input, month, subset)
            settings = RunSettings(input_dir=subset, out_dir=scratch / "out", performance_year=args.performance_year,
                                   config_file=args.config.resolve() if args.config else None, threads=args.threads,
                                   quiet=True)
            outcome = run_pipeline(settings)
            if not outcome.success:
                raise CommandError(f"backfill {month}: {outcome.reason}")
            written = move_history(settings.out_dir, out)
            if not args.quiet:
                print(f"  {month}: {files} claims files, {outcome.seconds:.0f}s -> "
                      f"{', '.join(p.name for p in written) or 'no projected scores'}", file=sys.stderr, flush=True)
            shutil.rmtree(subset, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"asm backfill: {len(months)} month(s) replayed ({months[0]} .. {months[-1]}); history in "
          f"{out / 'history' / 'projected_scores'}")
    return 0
