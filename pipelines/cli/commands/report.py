"""`asm report`: regenerate the reports (index, scorecards, cohort summary) from the published tables of an
output folder, without recomputing anything. `--tin` rebuilds only those TINs' folders and keeps the others.
Recorded like a run: OUT/report_summary.json (its id, outcome, timing, the trace of the tables it rendered,
the files it wrote) and, when it succeeded, a materialization of the reports asset in the Dagster instance."""
from __future__ import annotations

import argparse
import re
import sys
import time
import uuid
from pathlib import Path

from pipelines.cli.commands import CommandError, non_negative
from pipelines.engine.methodology import DEFAULT_PERFORMANCE_YEAR, MethodologyError, load_methodology

NAME = "report"
HELP = "regenerate the reports from the published tables (no recomputation)"


def parse_tins(text: str) -> tuple[str, ...]:
    """'T1, T2' -> ('T1', 'T2'); a value that is not 9 digits is a one-line error."""
    tins = tuple(t.strip() for t in text.split(",") if t.strip())
    bad = [t for t in tins if not re.fullmatch(r"[0-9]{9}", t)]
    if bad:
        raise CommandError(f"--tin {bad[0]}: not a 9-digit TIN")
    return tins


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, type=Path, help="output folder of an earlier `asm run`")
    p.add_argument("--tin", default="", help="only these TINs' folders (comma-separated); other folders stay")
    p.add_argument("--performance-year", default=DEFAULT_PERFORMANCE_YEAR, type=int, help="the PY the run scored")
    p.add_argument("--config", type=Path, default=None, help="methodology overrides the run used (TOML)")
    p.add_argument("--threads", type=non_negative, default=0,
                   help="processes drawing scorecards (default 0 = every core; 1 = in this process)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def run(args) -> int:
    from pipelines.engine.outfolder import OutputInUse, OutputLock
    from pipelines.engine.reports import PrivacyError, write_reports
    from pipelines.engine.reports.episode_ids import EpisodeKeyError
    from pipelines.engine.reports.trace import report_record, report_trace, write_report_record
    from pipelines.engine.settings import RunSettings
    from pipelines.engine.snapshots import LayoutError, check_layout
    from pipelines.engine.warehouse import TableMissing, OutFolder

    tins = parse_tins(args.tin)
    if not OutFolder(args.out).warehouse_dir.is_dir():
        raise CommandError(f"no published tables in {args.out / 'warehouse'}; run `asm run --out {args.out}` first")
    try:
        m = load_methodology(args.performance_year, args.config)
    except MethodologyError as exc:
        raise CommandError(str(exc)) from None
    settings = RunSettings(input_dir=args.out, out_dir=args.out.resolve(), performance_year=args.performance_year,
                           config_file=args.config, quiet=args.quiet, tins=tins, threads=args.threads)
    if tins:
        known = set(settings.warehouse.read("eligibility", ["tin"])["tin"].drop_nulls())
        from difflib import get_close_matches
        missing = [t for t in tins if t not in known]
        if missing:
            near = get_close_matches(missing[0], sorted(known), n=3, cutoff=0)
            raise CommandError(f"--tin {missing[0]}: not a TIN of this run (nearest: {', '.join(near)})")
    report_id, started, t0 = str(uuid.uuid4()), time.time(), time.perf_counter()
    try:
        with OutputLock(settings.out_dir, f"report-{report_id}"):  # one writer of OUT at a time (issue 21)
            check_layout(settings.out_dir)  # OUT/reports a real folder beside published snapshots: refused
            info = write_reports(settings, m, list(tins) or None, report_id)
    except (OutputInUse, LayoutError) as exc:
        raise CommandError(f"report: {exc}") from None
    except (TableMissing, PrivacyError, EpisodeKeyError) as exc:
        write_report_record(settings.out_dir, report_record(settings, report_id, started, time.perf_counter() - t0,
                                                            None, str(exc), report_trace(settings, m, report_id)))
        raise CommandError(f"report: {exc}") from None
    record = report_record(settings, report_id, started, time.perf_counter() - t0, info)
    write_report_record(settings.out_dir, record)
    _record_in_instance(settings.out_dir, record)
    if not args.quiet:
        print(f"asm report: {len(info['tins'])} scorecard(s) rebuilt, {info['carried_tins']} kept, index of "
              f"{info['index_tins']} TIN(s)", file=sys.stderr)
    print(settings.reports_dir / "index.html")
    return 0


def _record_in_instance(out_dir: Path, record: dict) -> None:
    """The report in the project's Dagster instance; the reports are written either way, so a failure to record
    (a locked or read-only instance) is one warning line."""
    from assets.reports import REPORTS_ASSET
    from assets.runtime.runrecord import instance_home, record_report

    try:
        record_report(out_dir, REPORTS_ASSET, record)
    except Exception as exc:  # noqa: BLE001 - any storage error: the report stands, its record file is written
        print(f"asm report: warning: not recorded in {instance_home(out_dir)}: {type(exc).__name__}: {exc}",
              file=sys.stderr)
