"""The monthly trend without a full run per month (issue 18 item 6): `asm backfill --monthly` replays the
input folder's deliveries month by month through the engine stages, in this process.

One month's replay: the files delivered up to the month's end are linked into a scratch input folder
(projection.history.month_subset); every stage of the registry (`registry.STAGES`, in order) runs on them
with its tables written to a scratch warehouse; after each stage the suites of the tables it wrote are
evaluated and the month is refused on the first failed blocking (ERROR) expectation, as a run stops below
a failed blocking check (the same suites and engines, DuckDB and GX; the same one-line summary); ingest's
reconciliation (rows read = loaded + excluded + quarantined) is refused as the ingest asset refuses it. The
projection stage appends the month to the scratch folder's history (V, E5: keyed by the data's last
service date), which is then moved into OUT/history/projected_scores/.

What a month does not pay, against a run: Dagster (job, instance, run record, side-input observation),
recording check outcomes (dq_results), reports, publishing. What is shared between months: one staging
cache (OUT/.backfill/out/.ingest), so each delivery file is typed once in the whole backfill (the months
go oldest first and each month's files include the previous month's); the methodology, loaded once;
Great Expectations, imported once. Every month's tables come from the same stage functions a run calls,
so its history rows are those of a full run on the same files (tests/test_backfill.py compares both).

OUT/warehouse, OUT/reports and OUT/dq_results are not touched; OUT is locked for the backfill (one run per
OUT: it writes OUT/history); the scratch folder OUT/.backfill is removed at the end, failed or not.
No beneficiary ids in the progress or the errors (participant-level history rows only).
"""
from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from pipelines.engine import registry
from pipelines.engine.episodes import EpisodeConfigError
from pipelines.engine.errors import explain
from pipelines.engine.ingest import IngestResult, InputFileError, QuarantineRateExceeded
from pipelines.engine.methodology import Methodology
from pipelines.engine.outfolder import OutputFolderError, OutputInUse, OutputLock, prepare_output
from pipelines.engine.projection import ReferenceFileError
from pipelines.engine.projection.history import move_history, month_subset
from pipelines.engine.quality_gates import assess, available_suites
from pipelines.engine.scoring.inputs import SideInputError
from pipelines.engine.settings import RunSettings
from pipelines.engine.warehouse import OutFolder, TableMissing

# The user errors the stage assets turn into a one-line failure "<stage>: <message>" (assets/*.py).
STAGE_ERRORS = (InputFileError, QuarantineRateExceeded, EpisodeConfigError, SideInputError, TableMissing,
                ReferenceFileError)


class ReplayError(Exception):
    """A month that cannot be replayed (bad input, a failed blocking check) or an OUT that cannot be used.
    str() is one line for the user ("backfill <month>: ..." for a month)."""


@dataclass
class MonthReplayed:
    month: str  # YYYY-MM: the deliveries up to this month's end
    claims_files: int  # claims files delivered up to then
    seconds: float
    history: list[Path] = field(default_factory=list)  # files written into OUT/history/projected_scores/
    stage_seconds: dict[str, float] = field(default_factory=dict)  # per stage, its checks included


def _run_stage(stage: registry.Stage, settings: RunSettings, m: Methodology, month: str, suites: set[str]) -> None:
    """One stage of one month, then the suites of its tables: a ReplayError where a run would fail."""
    try:
        result = registry.run(stage, settings, m)
    except STAGE_ERRORS as exc:
        raise ReplayError(f"backfill {month}: {stage.name}: {exc}") from None
    except Exception as exc:  # raw DuckDB / OS errors (a full disk...): one line when we can explain them
        why = explain(f"{type(exc).__name__}: {exc}", str(settings.out_dir))
        if why is None:
            raise
        raise ReplayError(f"backfill {month}: {stage.name}: {why}") from None
    if isinstance(result, IngestResult) and result.unreconciled:  # N: as the ingest asset refuses it
        raise ReplayError(f"backfill {month}: ingest: reconciliation failed: rows read != loaded + excluded + "
                          f"quarantined for {', '.join(result.unreconciled)}")
    for table in stage.writes:  # a run's blocking checks: a failed ERROR expectation stops what is below it
        if table in suites:
            ev = assess(table, settings, stage.name)
            if ev.failed_errors:
                raise ReplayError(f"backfill {month}: {ev.summary}")


def replay_month(input_dir: Path, month: str, scratch: Path, out_dir: Path, settings: RunSettings,
                 m: Methodology, suites: set[str]) -> MonthReplayed:
    """Replay one month (module docstring) in `scratch`; its history file is moved into `out_dir`."""
    t0 = time.perf_counter()
    subset = scratch / f"input-{month}"
    shutil.rmtree(subset, ignore_errors=True)
    files = month_subset(input_dir, month, subset)
    settings = replace(settings, input_dir=subset)
    # no table of the month before is left to be read (every stage writes its own again)
    shutil.rmtree(settings.warehouse_dir, ignore_errors=True)
    stage_seconds = {}
    for stage in registry.STAGES:
        ts = time.perf_counter()
        _run_stage(stage, settings, m, month, suites)
        stage_seconds[stage.name] = round(time.perf_counter() - ts, 2)
    written = move_history(settings.out_dir, out_dir)
    shutil.rmtree(subset, ignore_errors=True)
    return MonthReplayed(month, files, time.perf_counter() - t0, written, stage_seconds)


def backfill_monthly(input_dir: Path, out_dir: Path, months: list[str], m: Methodology,
                     config_file: Path | None = None, threads: int = 0,
                     on_month: Callable[[MonthReplayed], None] | None = None,
                     accept_incomplete: tuple[str, ...] = (), accept_amounts: bool = False) -> list[MonthReplayed]:
    """Replay `months` (YYYY-MM, oldest first) of `input_dir` and fill `out_dir`'s projection history.
    `on_month` is told of each month as it is done (progress); `accept_*`: as `asm run`'s (issue 21 gates).
    Raises ReplayError (one line)."""
    out = Path(out_dir).resolve()
    try:
        prepare_output(out)
    except OutputFolderError as exc:
        raise ReplayError(str(exc)) from None
    suites = set(available_suites())
    scratch = OutFolder(out).backfill_dir
    settings = RunSettings(input_dir=Path(input_dir), out_dir=scratch / "out", performance_year=m.performance_year,
                           config_file=Path(config_file).resolve() if config_file else None, threads=threads,
                           quiet=True, accept_incomplete=tuple(accept_incomplete), accept_amounts=accept_amounts)
    done = []
    try:
        with OutputLock(out, f"backfill-{uuid.uuid4().hex[:12]}"):  # one run per OUT: it writes OUT/history
            try:
                shutil.rmtree(scratch, ignore_errors=True)  # what a killed backfill left
                for month in sorted(months):
                    done.append(replay_month(Path(input_dir), month, scratch, out, settings, m, suites))
                    if on_month is not None:
                        on_month(done[-1])
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
    except OutputInUse as exc:  # only the lock raises it: another run's scratch is left alone
        raise ReplayError(str(exc)) from None
    return done
