"""`asm run`: materialize every asset of the pipeline on an input folder, print the outcome."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines.cli.commands import CommandError, non_negative
from pipelines.cli.commands.report import parse_tins
from pipelines.engine.methodology import MethodologyError, load_methodology
from pipelines.engine.settings import RunSettings, Setting, capped_workers, run_settings

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


def _shard_count(value: str) -> int:
    from pipelines.engine.shards import ShardError, check_shard_count

    try:
        return check_shard_count(_positive(value))
    except ShardError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _arg_type(s: Setting):
    """How `asm run` reads a setting's value (argparse type): from its kind, minimum and check."""
    if s.check == "memory_size":
        return _memory_size
    if s.check == "shard_count":
        return _shard_count
    if s.minimum is not None:
        return {0: non_negative, 1: _positive}[s.minimum]
    return {"path": Path, "optional_path": Path, "int": int}.get(s.kind)  # "str", "strings": as typed


def add_arguments(p: argparse.ArgumentParser) -> None:
    """One option per run setting (pipelines.engine.settings.run_settings): flag, placeholder, help and
    default from the setting's declaration."""
    for s in run_settings():
        help_text = s.help.replace("%", "%%")
        if s.kind == "bool":
            p.add_argument(s.cli, action="store_true", help=help_text)
            continue
        kwargs = {"help": help_text, "metavar": s.metavar}
        if s.required:
            kwargs["required"] = True
        else:
            kwargs["default"] = s.to_text(s.default) if s.kind == "strings" else s.default
        arg_type = _arg_type(s)
        if arg_type is not None:
            kwargs["type"] = arg_type
        p.add_argument(s.cli, **kwargs)


def _dest(s: Setting) -> str:
    return s.cli.removeprefix("--").replace("-", "_")


def settings_from_args(args) -> RunSettings:
    """The settings of `asm run`'s options (paths made absolute; --tin checked: a CommandError; --workers
    capped at the usable cores: `workers_note`)."""
    values = {}
    for s in run_settings():
        value = getattr(args, _dest(s))
        if s.kind in ("path", "optional_path"):
            value = value.resolve() if value else None
        elif s.kind == "strings":
            value = parse_tins(value) if s.check == "tin" else s.from_text(value)
        values[s.name] = value
    values["workers"], _ = capped_workers(values["workers"])
    return RunSettings(**values)


def workers_note(args) -> str:
    """The note when --workers is above the usable cores (settings_from_args caps it), else ''."""
    return capped_workers(args.workers)[1]


def run(args) -> int:
    from pipelines.engine.outfolder import OutputFolderError, OutputInUse
    from assets.runner import run_pipeline

    if not args.input.is_dir():
        raise CommandError(f"input folder not found: {args.input}")
    try:
        m = load_methodology(args.performance_year, args.config)
    except MethodologyError as exc:
        raise CommandError(str(exc)) from None
    settings = settings_from_args(args)
    if args.remote_url:  # a wrong URL, endpoint or credentials: one line before the run starts
        from assets.runtime.remote import RemoteError, RemoteStore
        try:
            RemoteStore(args.remote_url).check()
        except RemoteError as exc:
            raise CommandError(str(exc)) from None
    if not args.quiet:
        print(f"asm run: PY {settings.performance_year}, methodology {m.label}, input {settings.input_dir}",
              file=sys.stderr)
        if workers_note(args):
            print(f"asm run: note: {workers_note(args)}", file=sys.stderr)
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
