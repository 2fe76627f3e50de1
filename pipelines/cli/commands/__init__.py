"""One module per `asm` sub-command. Each defines NAME, HELP, add_arguments(parser) and run(args) -> int;
`pipelines.cli` registers the modules listed in COMMANDS, in this order."""
from __future__ import annotations

import argparse
import sys

COMMANDS = ("generate", "run", "report", "explain", "backfill", "sensitivity", "whatif")


class CommandError(Exception):
    """A user error: str() is the one line `asm: error: ...` prints."""


def progress_printer(quiet: bool):
    """Progress for people on stderr; None when --quiet."""
    return None if quiet else (lambda m: print(f"  {m}", file=sys.stderr, flush=True))


def non_negative(value: str) -> int:
    """argparse type: a whole number >= 0."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"{n} is negative")
    return n
