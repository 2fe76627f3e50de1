"""`asm whatif`: apply a scenario for one TIN to a finished run (attest IA-1/IA-2, a PI score, a measure's
rate or cases, N fewer admissions, a cost category reduced by a share, a clinician leaving) and print the
final score, payment factor and dollars of its clinicians before and after, each with its interval
(engine: pipelines/engine/steering/whatif.py). Re-runs the stages in a scratch folder under OUT/.whatif,
removed afterwards, under OUT's run lock (a busy OUT is refused in one line); OUT's published tables are
only read."""
from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path

from pipelines.cli.commands import CommandError

NAME = "whatif"
HELP = "project a scenario (attest IAs, PI score, a measure, fewer admissions, lower cost, a clinician leaving) for a TIN"


def _list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, type=Path, help="output folder of a finished `asm run`")
    p.add_argument("--scenario", type=Path, default=None,
                   help="scenario TOML (tin, npi, attest, pi_score, fewer_admissions, clinician_leaves, "
                        "[cost_reduction], [[measure]]); options below override it")
    p.add_argument("--tin", default=None, help="the practice TIN (9 digits)")
    p.add_argument("--npi", action="append", default=[], type=_list,
                   help="clinician(s) concerned, comma-separated or repeated (default: every clinician of the TIN)")
    p.add_argument("--attest", action="append", default=[], type=_list, metavar="IA-1,IA-2",
                   help="improvement activities attested as done (S2)")
    p.add_argument("--pi-score", type=float, default=None, help="the TIN's Promoting Interoperability score 0-100 (S3)")
    p.add_argument("--measure-rate", action="append", default=[], metavar="MEASURE:TYPE=RATE",
                   help="a measure's performance rate 0-1, e.g. Q005:mips_cqm=0.9 (keeps its cases)")
    p.add_argument("--measure-cases", action="append", default=[], metavar="MEASURE:TYPE=N",
                   help="a measure's case count, e.g. Q236:mips_cqm=40 (keeps its rate)")
    p.add_argument("--fewer-admissions", type=int, default=None, metavar="N",
                   help="N fewer unplanned admissions in the clinicians' HF episodes (Q6 and their Part A cost)")
    p.add_argument("--cost-reduction", action="append", default=[], metavar="CATEGORY=SHARE",
                   help="a cost category of the clinicians' episodes reduced by a share, e.g. inpatient=0.2")
    p.add_argument("--clinician-leaves", default=None, metavar="NPI", help="a clinician leaving the TIN")
    p.add_argument("--input", type=Path, default=None,
                   help="the run's input folder (side files); default: the one OUT/run_summary.json names")
    p.add_argument("--methodology", type=Path, default=None,
                   help="the run's methodology overrides; default: the one OUT/run_summary.json names")
    p.add_argument("--performance-year", type=int, default=None, help="default: the run's PY")
    p.add_argument("--threads", default=0, type=int, help="DuckDB threads (default: all cores)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _shares(items: list[str]) -> dict:
    out = {}
    for item in items:
        cat, _, share = item.partition("=")
        try:
            out[cat.strip()] = float(share)
        except ValueError:
            raise CommandError(f"scenario: --cost-reduction {item!r}: expected CATEGORY=SHARE (e.g. inpatient=0.2)")
    return out


def run(args) -> int:
    from pipelines.engine.episodes import EpisodeConfigError
    from pipelines.engine.outfolder import OutputInUse, OutputLock
    from pipelines.engine.rerun import RerunError, load_run
    from pipelines.engine.scoring.inputs import SideInputError, TableMissing
    from pipelines.engine.steering.whatif import (ScenarioError, load_scenario, parse_measure_option, render,
                                                  run_whatif, to_json)

    out = args.out.resolve()
    try:
        measures = ([parse_measure_option(t, "rate") for t in args.measure_rate]
                    + [parse_measure_option(t, "cases") for t in args.measure_cases])
        values = {"tin": args.tin, "npi": [n for group in args.npi for n in group] or None,
                  "attest": [a.upper() for group in args.attest for a in group], "pi_score": args.pi_score,
                  "measures": measures, "fewer_admissions": args.fewer_admissions,
                  "cost_reduction": _shares(args.cost_reduction), "clinician_leaves": args.clinician_leaves}
        scenario = load_scenario(values, args.scenario)
        r = load_run(out, args.input, args.performance_year, args.methodology, args.threads)
        # OUT's run lock while the published tables are read and the scratch folder OUT/.whatif written (issue 21)
        with OutputLock(out, f"whatif-{uuid.uuid4().hex[:12]}"):
            result = run_whatif(r, scenario)
    except OutputInUse as exc:
        raise CommandError(str(exc)) from None
    except (ScenarioError, RerunError, SideInputError, TableMissing, EpisodeConfigError) as exc:
        raise CommandError(str(exc)) from None
    if args.json:
        print(json.dumps(to_json(result), indent=2, default=str))
    else:
        print(render(result))
    print(f"  answered in {result['seconds']:.1f}s", file=sys.stderr)
    return 0
