"""Deterministic, vectorised synthetic Medicare claims generator (CCLF / RIF) for the ASM pipeline.

    from pipelines.synthetic import generate
    summary = generate(Path("data/sample"), scale="small", seed=42, fmt="fixed")

Writes monthly CCLF5 deliveries (or RIF carrier files), CCLF1/CCLF4 (Part A), CCLF8
(demographics), two CCLF9 cross-walks, providers/quality/attestation/geography CSVs and, in
``out_dir/_truth/``, the ground truth of everything it planted (see ``manifest.json``).
Same seed + scale + fmt -> byte-identical files.  The planted world (patients, claims, noise) does
not depend on ``fmt``.  Every file appears under its name in one rename (warehouse.atomic_path).
"""
from __future__ import annotations

import json
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow.parquet as pq

from pipelines.engine.warehouse import atomic_path, write_text

from . import core, frames
from . import world as W
from .blocks import BlockWorkers, ClaimFiles, ClaimWriter, Tally
from .job import Job, Plan, cclf_file_name, ymd
from .practice import practice_files, scenario_counts
from .reference import copy_reference_files
from .render import Vocab, load_layout, load_rif_columns, open_parquet_appender

__all__ = ["generate", "SCALES", "FORMATS", "cclf_file_name"]

SCALES = {"small": 320_000, "medium": 3_000_000, "large": 30_000_000}
FORMATS = ("fixed", "csv", "parquet", "rif")
SIDE_FILES = ["providers.csv", "quality_submissions.csv", "practice_attestations.csv"]


def _job(out_dir: Path, scale: str | int, seed: int, fmt: str, say: Callable[[str], None]) -> Job:
    """Check the arguments; build the world (random stream [seed, 0]) and the facility NPIs ([seed, 2])."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    target = SCALES[scale] if isinstance(scale, str) else int(scale)
    if target <= 0:
        raise ValueError("scale must be positive")
    plan = Plan.for_target(target)
    wd = W.build_world(np.random.default_rng([seed, 0]), plan.practices)
    frng = np.random.default_rng([seed, 2])
    fac_bases = W.unique_ints(frng, 200_000_000, 300_000_000, 5)
    fac_npi = Vocab([f"{b:09d}{c}" for b, c in zip(fac_bases.tolist(), W.npi_check_digit(fac_bases).tolist())])
    layouts = {f"ZC{n}": load_layout(f"cclf{n}") for n in "51489"}
    return Job(out=Path(out_dir), fmt=fmt, seed=seed, scale=scale, plan=plan, world=wd,
               fac_npi=fac_npi, layouts=layouts, rif_cols=load_rif_columns(), say=say)


def generate(out_dir: Path, scale: str | int = "small", seed: int = 42, fmt: str = "fixed",
             progress: Callable[[str], None] | None = None) -> dict:
    """Generate a synthetic claims delivery folder.  Returns a summary dict.

    scale: "small" (~250k Part B lines), "medium" (~3M), "large" (~30M) or an int (approximate
    number of Part B claim lines).  fmt: "fixed" (CCLF fixed width), "csv", "parquet" or "rif"
    (RIF carrier pipe-delimited instead of CCLF5; Part A/CCLF8/CCLF9 stay fixed-width then).
    """
    t0 = time.perf_counter()
    job = _job(out_dir, scale, seed, fmt, progress or (lambda msg: None))
    files, tally = _write_claim_files(job)
    cclf9_files = _write_crosswalks(job, tally)
    other_files, scenarios = _write_side_files(job)
    manifest = _manifest(job, files, tally, cclf9_files, other_files, scenarios)
    write_text(job.truth_dir / "manifest.json", json.dumps(manifest, indent=1, sort_keys=False) + "\n")
    seconds = time.perf_counter() - t0
    b_total = manifest["partb_lines"]
    summary = dict(out_dir=str(job.out), fmt=fmt, seed=seed, partb_lines=b_total, parta_claims=tally.parta_claims,
                   patients=tally.patients, files=len(files.all()) + len(cclf9_files) + len(other_files),
                   malformed=len(tally.malformed), seconds=round(seconds, 3),
                   lines_per_s=round(b_total / max(seconds, 1e-9)))
    job.say(f"done: {b_total} Part B lines in {seconds:.1f}s ({summary['lines_per_s']:,} lines/s)")
    return summary


def _write_claim_files(job: Job) -> tuple[ClaimFiles, Tally]:
    """Generate every block and write its claims (Part B, Part A, CCLF8) and patients truth; the
    files appear when all blocks are written (none on error)."""
    with ExitStack() as stack:
        files = ClaimFiles(
            partb=[stack.enter_context(job.partb_sink(f)) for f in range(core.N_MONTHS)],
            cclf1=[stack.enter_context(job.cclf_sink("ZC1", d)) for d in core.DELIVERY],
            cclf4=[stack.enter_context(job.cclf_sink("ZC4", d)) for d in core.DELIVERY],
            cclf8=stack.enter_context(job.cclf_sink("ZC8", core.DELIVERY[-1])))
        patients = stack.enter_context(open_parquet_appender(job.truth_dir / "patients.parquet"))
        tally = Tally.for_files(files.partb)
        writer = ClaimWriter(job, files, patients, tally)
        with BlockWorkers(job) as workers:
            workers.write_in_order(writer.write)
    for s in files.all():
        job.say(f"wrote {s.path.name} ({s.rows} rows)")
    return files, tally


def _write_crosswalks(job: Job, tally: Tally) -> list[dict]:
    """CCLF9: an earlier partial delivery and the latest cumulative one."""
    xw = tally.crosswalk()
    early_day = core.DELIVERY[17]  # 2026-07-10
    written = []
    for deliv, mask in ((early_day, xw["obslt"] < early_day - 9), (core.DELIVERY[-1], np.ones(len(xw["crnt"]), bool))):
        with job.cclf_sink("ZC9", deliv) as s9:
            s9.write(frames.cclf9_frame({k: v[mask] for k, v in xw.items()}))
        written.append(dict(file=s9.path.name, rows=s9.rows))
        job.say(f"wrote {s9.path.name} ({s9.rows} rows)")
    return written


def _write_side_files(job: Job) -> tuple[list[str], dict]:
    """Geography, providers, quality and attestation files; the participants truth table. Returns
    the files and the scenario counts (practice.scenario_counts)."""
    written = copy_reference_files(job.out)
    practice = practice_files(job.world, np.random.default_rng([job.seed, 3]))
    for name, text in zip(SIDE_FILES, (practice.providers_csv, practice.quality_csv, practice.attestations_csv)):
        write_text(job.out / name, text)
        job.say(f"wrote {name}")
    with atomic_path(job.truth_dir / "participants.parquet") as tmp:
        pq.write_table(practice.participants, tmp, compression="zstd")
    return written + SIDE_FILES, scenario_counts(practice.participants)


def _manifest(job: Job, files: ClaimFiles, tally: Tally, cclf9_files: list[dict], other_files: list[str],
              scenarios: dict) -> dict:
    """_truth/manifest.json: what was asked, what each file holds and what was planted (no
    timings: the manifest is deterministic)."""
    stats = tally.partb_files
    rif = job.fmt == "rif"
    kinds = core.MALFORMED_KINDS if job.fmt == "fixed" else core.MALFORMED_KINDS[1:]
    xw = tally.crosswalk()
    wd = job.world
    return dict(
        generator="pipelines.synthetic", version=1, seed=job.seed, scale=job.scale, fmt=job.fmt,
        target_lines=job.plan.target, service_dates=[ymd(core.START), ymd(core.END)],
        partb_layout="rif_carrier" if rif else "cclf5",
        partb_files=stats, partb_lines=sum(s["lines"] for s in stats),
        redelivered_copies=sum(s["redelivered"] for s in stats),
        cancel_versions=sum(s["cancels"] for s in stats),
        adjustment_versions=sum(s["adjustments"] for s in stats),
        denied_lines=sum(s["denied"] for s in stats),
        non_a_lines=sum(s["non_a"] for s in stats),
        malformed_counts={k: sum(1 for m in tally.malformed if m["kind"] == k) for k in kinds},
        malformed=tally.malformed,
        malformed_values=dict(bad_amount=frames.BAD_AMOUNT_RIF if rif else frames.BAD_AMOUNT_CCLF,
                              bad_date=frames.BAD_DATE_RIF if rif else frames.BAD_DATE_CCLF),
        parta=dict(files=[dict(file=s.path.name, rows=s.rows) for s in files.cclf1], claims=tally.parta_claims,
                   cclf4_files=[dict(file=s.path.name, rows=s.rows) for s in files.cclf4],
                   diagnoses=tally.parta_diagnoses),
        cclf8=dict(file=files.cclf8.path.name, rows=tally.cclf8_rows),
        cclf9=cclf9_files,
        id_changes=dict(changed_benes=int((xw["prvs"] != xw["crnt"]).sum()) - 2,
                        crosswalk_rows=int(len(xw["crnt"])), chains=1, self_mappings=1, two_cycles=1),
        patients=tally.patients, **tally.truth_counts,
        participants=int(len(wd.p_tin)), tins=len(wd.tins), npis=len(wd.npis),
        scenarios=scenarios, other_files=other_files,
    )
