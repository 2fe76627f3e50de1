"""`asm sensitivity`: re-score a finished run under the alternatives of each DEFAULT rule and print,
per alternative, how many participants change status and the spread of final-score and dollar
changes (engine: pipelines/cli/sensitivity.py). Writes OUT/sensitivity/summary.csv and changes.parquet,
holding OUT's run lock throughout (a busy OUT is refused in one line)."""
from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path

from pipelines.cli.commands import CommandError, progress_printer

NAME = "sensitivity"
HELP = "re-score a finished run under alternative values of the DEFAULT rules and print what changes"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, type=Path, help="output folder of a finished `asm run`")
    p.add_argument("--config", type=Path, default=None,
                   help="alternatives file (TOML, [alternatives.<section>] key = [values]); default: "
                        "data/methodology/sensitivity.toml")
    p.add_argument("--input", type=Path, default=None,
                   help="the run's input folder (side files); default: the one OUT/run_summary.json names")
    p.add_argument("--methodology", type=Path, default=None,
                   help="the run's methodology overrides (asm run --config); default: the one OUT/run_summary.json names")
    p.add_argument("--performance-year", type=int, default=None, help="default: the run's PY")
    p.add_argument("--threads", default=0, type=int, help="DuckDB threads (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def run(args) -> int:
    from pipelines.engine.episodes import EpisodeConfigError
    from pipelines.engine.rerun import RerunError
    from pipelines.engine.scoring.inputs import SideInputError, TableMissing
    from pipelines.cli.sensitivity import (DEFAULT_ALTERNATIVES, SensitivityError, load_alternatives, load_run, render,
                                       run_sensitivity)
    from pipelines.engine.outfolder import OutputInUse, OutputLock
    from pipelines.engine.warehouse import write_frame, write_text

    out = args.out.resolve()
    try:
        r = load_run(out, args.input, args.performance_year, args.methodology, args.threads)
        alternatives = load_alternatives(args.config or DEFAULT_ALTERNATIVES, r.methodology)
        # OUT's run lock from the first write (the scratch folder's cleaning) to the last (the summary): issue 21
        with OutputLock(out, f"sensitivity-{uuid.uuid4().hex[:12]}"):
            progress = progress_printer(args.quiet)
            if progress:
                print(f"asm sensitivity: {len(alternatives)} alternatives on {out} "
                      f"(PY {r.methodology.performance_year})", file=sys.stderr)
            summary, changes = run_sensitivity(r, alternatives, progress)
            write_text(out / "sensitivity" / "summary.csv", summary.write_csv())
            write_frame(changes, out / "sensitivity" / "changes.parquet")
    except OutputInUse as exc:
        raise CommandError(str(exc)) from None
    except (SensitivityError, RerunError, SideInputError, TableMissing, EpisodeConfigError) as exc:
        raise CommandError(str(exc)) from None
    print(render(summary))
    print(f"  written: {out / 'sensitivity' / 'summary.csv'}, {out / 'sensitivity' / 'changes.parquet'}")
    return 0
