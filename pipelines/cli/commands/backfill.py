"""`asm backfill --monthly`: fill the projection history (OUT/history/projected_scores/) by replaying the input
folder's deliveries month by month: for each delivery month, the engine stages on the files delivered up to
that month's end (links in a scratch folder), whose projected scores are appended under that subset's last
service date; a month whose blocking checks fail is refused. No Dagster run, no reports, no publishing per
month (pipelines.engine.replay). OUT/warehouse and OUT/reports are not touched; run `asm run` for the
current snapshot."""
from __future__ import annotations

import argparse
import re
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
    for s in accept_settings():  # issue 21: the months replayed pass the same gates as `asm run`, accepted alike
        if s.kind == "bool":
            p.add_argument(s.cli, action="store_true", help=s.help.replace("%", "%%"))
        else:
            p.add_argument(s.cli, metavar=s.metavar, default="", help=s.help.replace("%", "%%"))


def accept_settings():
    """`asm run`'s options that accept a gate's problem (pipelines.engine.settings: one declaration each)."""
    from pipelines.engine.settings import run_settings

    return [s for s in run_settings() if s.name in ("accept_incomplete", "accept_amounts")]


def run(args) -> int:
    from pipelines.engine.projection.history import delivery_months
    from pipelines.engine.replay import ReplayError, backfill_monthly

    if not args.input.is_dir():
        raise CommandError(f"input folder not found: {args.input}")
    try:
        m = load_methodology(args.performance_year, args.config)
    except MethodologyError as exc:
        raise CommandError(str(exc)) from None
    months = delivery_months(args.input, args.first or f"{args.performance_year}-01", args.last)
    if not months:
        raise CommandError(f"no claims file of {args.input} was delivered in the months asked for "
                           "(file names carry the delivery date as .Dyymmdd.)")

    def shown(done) -> None:
        if not args.quiet:
            print(f"  {done.month}: {done.claims_files} claims files, {done.seconds:.1f}s -> "
                  f"{', '.join(p.name for p in done.history) or 'no projected scores'}", file=sys.stderr, flush=True)

    out = args.out.resolve()
    try:
        accepted = {s.name: (getattr(args, s.name) if s.kind == "bool" else s.from_text(getattr(args, s.name)))
                    for s in accept_settings()}
        backfill_monthly(args.input, out, months, m, config_file=args.config, threads=args.threads, on_month=shown,
                         **accepted)
    except ReplayError as exc:
        raise CommandError(str(exc)) from None
    print(f"asm backfill: {len(months)} month(s) replayed ({months[0]} .. {months[-1]}); history in "
          f"{out / 'history' / 'projected_scores'}")
    return 0
