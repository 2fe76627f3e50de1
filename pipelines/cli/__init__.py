"""`asm`: the command line users, schedulers and tests call. One module per sub-command in
`pipelines/cli/commands/` (`asm <command> --help` lists its options). Exit status is non-zero on failure,
with a one-line reason on stderr (`asm: error: ...`), never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

import pipelines
from pipelines.cli.commands import COMMANDS, CommandError


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (`asm: error: ...`, then where to find the options)."""

    def error(self, message: str):
        where = self.prog.removeprefix("asm").strip()
        self.exit(2, f"asm: error: {where + ': ' if where else ''}{message} (see `{self.prog} --help`)\n")


def _modules():
    return [importlib.import_module(f"pipelines.cli.commands.{name}") for name in COMMANDS]


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="asm", description="CMS Ambulatory Specialty Model engine.")
    p.add_argument("--version", action="version", version=f"asm-pipeline {pipelines.__version__}",
                   help="print the version and exit")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    for module in _modules():
        module.add_arguments(sub.add_parser(module.NAME, help=module.HELP, description=module.HELP))
    return p


def _err(message: str) -> int:
    print(f"asm: error: {message}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = {m.NAME: m for m in _modules()}[args.command]
    try:
        return command.run(args)
    except CommandError as exc:
        return _err(str(exc))
    except KeyboardInterrupt:
        return _err("interrupted")
    except Exception as exc:  # a bug, not a user error: still one line (ASM_DEBUG=1 shows the traceback)
        if os.environ.get("ASM_DEBUG"):
            raise
        first = (str(exc).strip().splitlines() or [""])[0]
        return _err(f"internal error: {type(exc).__name__}: {first} (please report it; ASM_DEBUG=1 shows the "
                    "traceback)")


if __name__ == "__main__":
    sys.exit(main())
