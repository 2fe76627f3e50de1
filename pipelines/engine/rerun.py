"""Re-running part of a finished run beside it, never in it: the one home of the scratch output folder
`asm sensitivity` (alternative DEFAULTs) and `asm whatif` (a changed scenario) re-run stages in.

A scratch folder's warehouse links every published table of OUT the re-run stages read and do not
write (so nothing is copied or re-ingested), holds the tables a caller replaces (`replaced`: a what-if's
changed copy of parta_claims, episode_costs, ...), and gets the re-run stages' own tables; its input
folder is the run's, or a scratch input folder whose side files a caller changed. The published
snapshot of OUT is never written; the scratch folder is removed afterwards.
"""
from __future__ import annotations

import contextlib
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import polars as pl

from pipelines.engine import registry
from pipelines.engine.methodology import DEFAULT_PERFORMANCE_YEAR, Methodology, MethodologyError, load_methodology
from pipelines.engine.provenance import recorded_provenance
from pipelines.engine.settings import RunSettings
from pipelines.engine.warehouse import OutFolder, parquet_files


class RerunError(Exception):
    """A run folder that cannot be re-run. str() is one line."""


@dataclass(frozen=True)
class Run:
    """A finished run: its output folder, input folder (side files), PY and methodology."""
    out_dir: Path
    input_dir: Path
    methodology: Methodology
    threads: int = 0


def load_run(out_dir: Path, input_dir: Path | None = None, performance_year: int | None = None,
             config_file: Path | None = None, threads: int = 0) -> Run:
    """The run of OUT: its PY, input folder and methodology config from OUT/run_summary.json unless given."""
    summary_file = OutFolder(out_dir).summary_file
    if not OutFolder(out_dir).published_path("participant_scores").exists():
        raise RerunError(f"{out_dir}: no published run (warehouse/participant_scores.parquet); run asm run first")
    recorded = recorded_provenance(out_dir)
    input_dir = input_dir or (Path(recorded["input_dir"]) if recorded.get("input_dir") else None)
    if input_dir is None:
        raise RerunError(f"{summary_file}: does not name the run's input folder; pass --input (the side files "
                         "quality_submissions.csv, practice_attestations.csv ... are read from it)")
    if not Path(input_dir).is_dir():
        raise RerunError(f"input folder not found: {input_dir}")
    config = config_file or (Path(recorded["config_file"]) if recorded.get("config_file") else None)
    py = performance_year or int(recorded.get("performance_year") or DEFAULT_PERFORMANCE_YEAR)
    try:
        m = load_methodology(py, config)
    except MethodologyError as exc:
        raise RerunError(str(exc)) from None
    return Run(out_dir=out_dir, input_dir=Path(input_dir), methodology=m, threads=threads)


def scratch_settings(run: Run, stages: tuple[registry.Stage, ...], scratch: Path,
                     replaced: dict[str, pl.DataFrame] | None = None, input_dir: Path | None = None) -> RunSettings:
    """Settings of a scratch output folder `scratch` whose warehouse links every published table the
    `stages` read and do not write, but the `replaced` tables, which are written there as given."""
    replaced = replaced or {}
    writes = {t for s in stages for t in s.writes}
    published = OutFolder(run.out_dir)
    partb = published.published_path("partb_lines")  # the run's shard count (pipelines.engine.shards)
    settings = RunSettings(input_dir=input_dir or run.input_dir, out_dir=scratch,
                           performance_year=run.methodology.performance_year, threads=run.threads, quiet=True,
                           shards=len(parquet_files(partb)) if partb.is_dir() else 1)
    settings.warehouse_dir.mkdir(parents=True)
    for table in sorted(registry.inputs_of(writes) | set(replaced)):
        if table in replaced:
            settings.warehouse.write(table, replaced[table])
            continue
        src = published.published_path(table)
        if src.exists():
            settings.warehouse.published_path(table).symlink_to(src.resolve())
    return settings


@contextlib.contextmanager
def scratch_folder(parent: Path) -> Iterator[Path]:
    """A fresh folder parent/<id> (removed afterwards, and `parent` too when nothing else is left in it),
    `parent` being OUT/.sensitivity or OUT/.whatif: OUT's run lock is held meanwhile, so no run publishes
    under the tables being re-run and no two commands write OUT at once (issue 21); a busy OUT is refused."""
    from pipelines.engine.outfolder import OutputInUse, OutputLock

    folder = parent / uuid.uuid4().hex[:12]
    lock = OutputLock(parent.parent, f"{parent.name.lstrip('.')}-{folder.name}")
    try:
        lock.__enter__()
    except OutputInUse as exc:
        raise RerunError(str(exc)) from None
    try:
        folder.mkdir(parents=True)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(OSError):
            parent.rmdir()
        lock.__exit__(None, None, None)


def run_stages(settings: RunSettings, stages: tuple[registry.Stage, ...], m: Methodology) -> None:
    """Each stage's engine function, in order (each writes its own tables into the scratch warehouse)."""
    for s in stages:
        registry.run(s, settings, m)
