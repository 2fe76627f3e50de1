"""Blocks of patients, generated and rendered by worker threads and written in block order.

Each block's ids (claim id / control number ranges) continue those of the block before, and the
blocks are written in order, so the bytes do not depend on the number of workers or on timing.
"""
from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pyarrow as pa

from . import core, frames, render
from .job import LINES_PER_PATIENT, Job
from .render import ParquetAppender, Sink

# worker threads generating and rendering blocks (the output does not depend on it)
GEN_WORKERS = max(1, int(os.environ.get("ASM_GEN_WORKERS", "0")) or min(2, os.cpu_count() or 1))
TRUTH_COUNTS = ("cohort_patients", "planted_first_episodes", "under_18", "deaths", "absent_from_cclf8")


def _slice(d: dict, a: int, b: int) -> dict:
    return {k: v[a:b] for k, v in d.items()}


# ---------------------------------------------------------------------------------- workers
@dataclass
class PartBMonth:
    """One block's Part B rows of one delivery file, rendered."""
    payload: object  # record bytes, or an arrow table for Parquet
    stats: dict  # lines, redelivered, cancels, adjustments, denied, non_a
    malformed: list[tuple]  # (kind, row in the payload, claim id, line number)


@dataclass
class Payload:
    """Rendered records of one file: bytes, or an arrow table for Parquet."""
    data: object
    rows: int


@dataclass
class RenderedBlock:
    """A block ready to write: its claims and demographics rendered per file, the rest as generated."""
    bi: int
    partb: list[PartBMonth | None]  # by delivery file (None: no rows)
    cclf1: list[Payload | None]  # Part A headers by delivery file
    cclf4: list[Payload | None]  # their diagnoses by delivery file
    cclf8: Payload  # demographics (beneficiaries absent from CCLF8 left out)
    xwalk: dict
    truth: dict
    truth_table: pa.Table


def make_block(job: Job, bi: int, base_in: Future, base_out: Future) -> RenderedBlock:
    """Worker: generate block bi, give it its ids and render its Part B rows, Part A claims and
    demographics into per-file payloads (arrow tables for Parquet, bytes otherwise)."""
    blk = _generate_block(job, bi, base_in, base_out)
    cclf1, cclf4 = _render_parta(job, blk.parta, blk.parta_dx)
    keep = ~blk.demo["absent"]
    return RenderedBlock(bi=bi, partb=_render_partb(job, blk.rows, blk.bounds), cclf1=cclf1, cclf4=cclf4,
                         cclf8=_render_aux(job, "ZC8", frames.cclf8_frame({k: v[keep] for k, v in blk.demo.items()})),
                         xwalk=blk.xwalk, truth=blk.truth, truth_table=frames.patients_truth(blk.truth, job.world))


def _render_aux(job: Job, code: str, frame) -> Payload:
    """A Part A or CCLF8 frame in the format of those files (fixed width beside RIF)."""
    layout = job.layouts[code]
    return Payload(render.frame_bytes(frame, job.aux_fmt, list(layout.fields), layout=layout), frame.n)


def _render_parta(job: Job, parta: dict, parta_dx: dict) -> tuple[list[Payload | None], list[Payload | None]]:
    """CCLF1 and CCLF4 payloads by delivery file (Part A claims are grouped by file)."""
    pfile = parta["file"]
    pb = np.searchsorted(pfile, np.arange(core.N_MONTHS + 1))
    db = np.searchsorted(pfile[parta_dx["claim"]], np.arange(core.N_MONTHS + 1))
    cclf1: list[Payload | None] = [None] * core.N_MONTHS
    cclf4: list[Payload | None] = [None] * core.N_MONTHS
    for f in range(core.N_MONTHS):
        if pb[f] < pb[f + 1]:
            cclf1[f] = _render_aux(job, "ZC1", frames.cclf1_frame(_slice(parta, pb[f], pb[f + 1]), job.world,
                                                                  job.fac_npi))
        if db[f] < db[f + 1]:
            cclf4[f] = _render_aux(job, "ZC4", frames.cclf4_frame(parta, _slice(parta_dx, db[f], db[f + 1])))
    return cclf1, cclf4


def _generate_block(job: Job, bi: int, base_in: Future, base_out: Future) -> core.Block:
    """Generate block bi; its ids start at base_in's counters (those after block bi - 1) and
    base_out gets the counters after it."""
    try:
        npat = job.plan.block_patients(bi)
        used = core.Counters(0, 0, 0, 0)
        blk = core.gen_block(bi, bi * job.plan.per_block, npat, job.world, job.seed, used,
                             lines_hint=int(npat * LINES_PER_PATIENT))
        base = base_in.result()
        base_out.set_result(base.advanced_by(used))
    except BaseException as e:
        if not base_out.done():
            base_out.set_exception(e)
        raise
    blk.rows["cid"] += base.claim_id
    blk.rows["cntl"] += base.cntl
    blk.parta["cid"] += base.parta_id
    blk.parta["cntl"] += base.parta_cntl
    return blk


def _render_partb(job: Job, rows: dict, bounds: np.ndarray) -> list[PartBMonth | None]:
    months = []
    for f in range(core.N_MONTHS):
        a, b = int(bounds[f]), int(bounds[f + 1])
        months.append(_render_month(job, _slice(rows, a, b)) if a < b else None)
    return months


def _render_month(job: Job, r: dict) -> PartBMonth:
    if job.fmt == "rif":
        payload = render.frame_bytes(frames.rif_frame(r, job.world), "rif", job.rif_cols, delimiter="|")
    else:
        layout = job.layouts["ZC5"]
        fr, trunc = frames.cclf5_frame(r, job.world)
        payload = render.frame_bytes(fr, job.fmt, list(layout.fields), layout=layout,
                                     truncate=trunc if job.fmt == "fixed" else None)
    stats = dict(lines=len(r["file"]), redelivered=int((r["vkind"] == 1).sum()),
                 cancels=int((r["vkind"] == 2).sum()), adjustments=int((r["vkind"] == 3).sum()),
                 denied=int((r["dnl"] == 1).sum()), non_a=int((r["prcsg"] > 0).sum()))
    return PartBMonth(payload, stats, _malformed_rows(job, r))


def _malformed_rows(job: Job, r: dict) -> list[tuple]:
    """(kind, row, claim id, line number) of the malformed rows (a wrong record length only
    exists in fixed width)."""
    found = []
    mal = r["mal"]
    for i in np.flatnonzero(mal).tolist():
        kind = core.MALFORMED_KINDS[mal[i] - 1]
        if kind == "wrong_length" and job.fmt != "fixed":
            continue
        found.append((kind, i, f"{int(r['cid'][i]):013d}", int(r["lnum"][i])))
    return found


class BlockWorkers:
    """Blocks are generated and rendered by worker threads (numpy and arrow release the GIL), at
    most `ahead` blocks in flight; write_in_order() hands them to the writer in block order."""

    def __init__(self, job: Job):
        self.job = job
        self.blocks = [bi for bi in range(job.plan.blocks) if job.plan.block_patients(bi) > 0]
        workers = max(1, min(GEN_WORKERS, len(self.blocks)))
        self.ahead = workers
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="asm-gen")
        # bases[k]: the counters block k starts from, set when block k - 1 is generated
        self.bases = [Future() for _ in range(len(self.blocks) + 1)]
        self.bases[0].set_result(core.Counters())
        self.futures: dict[int, Future] = {}

    def _submit(self, k: int):
        if k < len(self.blocks) and k not in self.futures:
            self.futures[k] = self.pool.submit(make_block, self.job, self.blocks[k], self.bases[k], self.bases[k + 1])

    def write_in_order(self, write: Callable[[RenderedBlock], None]):
        for k in range(min(self.ahead, len(self.blocks))):
            self._submit(k)
        for k in range(len(self.blocks)):
            block = self.futures.pop(k).result()
            self._submit(k + self.ahead)
            write(block)
            del block  # freed before waiting for the next one

    def __enter__(self) -> BlockWorkers:
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            for fu in self.futures.values():
                fu.cancel()
            for fu in self.bases:
                if not fu.done():
                    fu.set_exception(RuntimeError("generation aborted"))
        self.pool.shutdown(wait=True)


# ---------------------------------------------------------------------------------- writing
@dataclass
class ClaimFiles:
    """The claim files written block by block."""
    partb: list[Sink]  # by delivery month: CCLF5 or RIF carrier
    cclf1: list[Sink]  # by delivery month
    cclf4: list[Sink]  # by delivery month
    cclf8: Sink

    def all(self) -> list[Sink]:
        return self.partb + self.cclf1 + self.cclf4 + [self.cclf8]


@dataclass
class Tally:
    """What the written files hold, for the manifest."""
    partb_files: list[dict]  # per Part B file: its name, lines, version kinds, denied, non_a, malformed
    malformed: list[dict] = field(default_factory=list)  # where each malformed row is
    xwalks: list[dict] = field(default_factory=list)  # the cross-walk rows of each block
    parta_claims: int = 0
    parta_diagnoses: int = 0
    cclf8_rows: int = 0
    patients: int = 0
    truth_counts: dict = field(default_factory=lambda: dict.fromkeys(TRUTH_COUNTS, 0))

    @classmethod
    def for_files(cls, partb: list[Sink]) -> Tally:
        return cls([dict(file=s.path.name, lines=0, redelivered=0, cancels=0, adjustments=0, denied=0, non_a=0,
                         malformed=0) for s in partb])

    def crosswalk(self) -> dict:
        return {k: np.concatenate([x[k] for x in self.xwalks]) for k in self.xwalks[0]}

    def count_truth(self, truth: dict):
        self.patients += len(truth["cohort"])
        counts = self.truth_counts
        counts["cohort_patients"] += int((truth["cohort"] > 0).sum())
        counts["planted_first_episodes"] += int(truth["epi"].sum())
        counts["under_18"] += int(truth["under18"].sum())
        counts["deaths"] += int((truth["death"] >= 0).sum())
        counts["absent_from_cclf8"] += int(truth["absent"].sum())


@dataclass
class ClaimWriter:
    """Writes rendered blocks to the claim files and the patients truth, and tallies them."""
    job: Job
    files: ClaimFiles
    patients: ParquetAppender
    tally: Tally

    def write(self, block: RenderedBlock):
        nb = self._write_partb(block.partb)
        self._write_parta(block.cclf1, block.cclf4)
        self._write_cclf8(block.cclf8)
        self.patients.append(block.truth_table)
        self.tally.count_truth(block.truth)
        self.tally.xwalks.append(block.xwalk)
        self.job.say(f"block {block.bi + 1}/{self.job.plan.blocks}: {nb} Part B rows")

    def _write_partb(self, months: list[PartBMonth | None]) -> int:
        nb = 0
        for f, month in enumerate(months):
            if month is None:
                continue
            sink = self.files.partb[f]
            before = sink.rows
            sink.write_payload(month.payload, month.stats["lines"])
            st = self.tally.partb_files[f]
            for k, v in month.stats.items():
                st[k] += v
            nb += month.stats["lines"]
            for kind, i, cid, lnum in month.malformed:
                st["malformed"] += 1
                self.tally.malformed.append(dict(kind=kind, file=sink.path.name, row=before + i + 1, claim_id=cid,
                                                 line_num=lnum))
        return nb

    def _write_parta(self, cclf1: list[Payload | None], cclf4: list[Payload | None]):
        for sinks, payloads in ((self.files.cclf1, cclf1), (self.files.cclf4, cclf4)):
            for sink, p in zip(sinks, payloads):
                if p is not None:
                    sink.write_payload(p.data, p.rows)
        self.tally.parta_claims += sum(p.rows for p in cclf1 if p is not None)
        self.tally.parta_diagnoses += sum(p.rows for p in cclf4 if p is not None)

    def _write_cclf8(self, cclf8: Payload):
        self.files.cclf8.write_payload(cclf8.data, cclf8.rows)
        self.tally.cclf8_rows += cclf8.rows
