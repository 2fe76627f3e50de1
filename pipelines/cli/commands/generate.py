"""`asm generate`: write a synthetic input folder in the real CMS layouts."""
from __future__ import annotations

import argparse
from pathlib import Path

from pipelines.cli.commands import progress_printer

NAME = "generate"
HELP = "write a synthetic input folder in the real CMS layouts"


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


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, type=Path, help="folder to write the inputs to")
    p.add_argument("--scale", default="small", type=_scale, help="small | medium | large | N claim lines")
    p.add_argument("--seed", default=42, type=int, help="random seed: the same seed writes the same files")
    p.add_argument("--format", dest="fmt", default="fixed", choices=["fixed", "csv", "parquet", "rif"],
                   help="Part B layout: CCLF5 fixed-width (default), CSV, Parquet, or RIF carrier")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def run(args) -> int:
    from pipelines.synthetic import generate

    summary = generate(args.out, scale=args.scale, seed=args.seed, fmt=args.fmt, progress=progress_printer(args.quiet))
    lines = summary.get("partb_lines") or summary.get("lines") or 0
    secs = summary.get("seconds") or 0
    print(f"generated {lines:,} Part B claim lines in {secs:.1f}s into {args.out}")
    return 0
