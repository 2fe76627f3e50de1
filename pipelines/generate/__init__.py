"""Deterministic, vectorised synthetic Medicare claims generator (CCLF / RIF) for the ASM pipeline.

    from pipelines.generate import generate
    summary = generate(Path("data/sample"), scale="small", seed=42, fmt="fixed")

Writes monthly CCLF5 deliveries (or RIF carrier files), CCLF1/CCLF4 (Part A), CCLF8
(demographics), two CCLF9 cross-walks, providers/quality/attestation/geography CSVs and, in
``out_dir/_truth/``, the ground truth of everything it planted (see ``manifest.json``).
Same seed + scale + fmt -> byte-identical files.  The planted world (patients, claims, noise) does
not depend on ``fmt``.
"""
from __future__ import annotations

import json
import math
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import core, frames, render
from . import world as W
from .practice import practice_files
from .reference import copy_reference_files
from .render import Sink, Vocab, load_layout, load_rif_columns

__all__ = ["generate", "SCALES", "FORMATS", "cclf_file_name"]

SCALES = {"small": 250_000, "medium": 3_000_000, "large": 30_000_000}
FORMATS = ("fixed", "csv", "parquet", "rif")
LINES_PER_PATIENT = 14.3  # calibrated: Part B rows written per generated patient
BLOCK_LINES = 1_000_000  # Part B rows per streamed block (fixed, so output does not depend on memory)
# worker threads generating and rendering blocks (the output does not depend on it)
GEN_WORKERS = max(1, int(os.environ.get("ASM_GEN_WORKERS", "0")) or min(2, os.cpu_count() or 1))


def _ymd(d: int) -> str:
    return str(np.datetime64(int(d), "D"))


def cclf_file_name(code: str, delivery_day: int, aco: str = "A9999") -> str:
    s = _ymd(delivery_day).replace("-", "")[2:]
    return f"P.{aco}.ACO.{code}Y{s[:2]}.D{s}.T1200000"


def _ext(fmt: str) -> str:
    return {"fixed": "", "csv": ".csv", "parquet": ".parquet"}[fmt]


def _slice(d: dict, a: int, b: int) -> dict:
    return {k: v[a:b] for k, v in d.items()}


def _atomic_text(path: Path, text: str):
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _atomic_parquet(path: Path, table: pa.Table):
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def generate(out_dir: Path, scale: str | int = "small", seed: int = 42, fmt: str = "fixed",
             progress: Callable[[str], None] | None = None) -> dict:
    """Generate a synthetic claims delivery folder.  Returns a summary dict.

    scale: "small" (~250k Part B lines), "medium" (~3M), "large" (~30M) or an int (approximate
    number of Part B claim lines).  fmt: "fixed" (CCLF fixed width), "csv", "parquet" or "rif"
    (RIF carrier pipe-delimited instead of CCLF5; Part A/CCLF8/CCLF9 stay fixed-width then).
    """
    t0 = time.perf_counter()
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    target = SCALES[scale] if isinstance(scale, str) else int(scale)
    if target <= 0:
        raise ValueError("scale must be positive")
    say = progress or (lambda msg: None)
    out = Path(out_dir)
    truth_dir = out / "_truth"
    truth_dir.mkdir(parents=True, exist_ok=True)

    wd = W.build_world(np.random.default_rng([seed, 0]))
    frng = np.random.default_rng([seed, 2])
    fac_bases = W.unique_ints(frng, 200_000_000, 300_000_000, 5)
    fac_npi = Vocab([f"{b:09d}{c}" for b, c in zip(fac_bases.tolist(), W.npi_check_digit(fac_bases).tolist())])

    npat_total = max(300, int(round(target / LINES_PER_PATIENT)))
    nblocks = max(1, math.ceil(target / BLOCK_LINES))
    ppb = math.ceil(npat_total / nblocks)

    aux_fmt = fmt if fmt != "rif" else "fixed"
    L5, L1, L4, L8, L9 = (load_layout(n) for n in ("cclf5", "cclf1", "cclf4", "cclf8", "cclf9"))
    rif_cols = load_rif_columns()

    def cclf_sink(code, deliv, layout):
        name = cclf_file_name(code, deliv) + _ext(aux_fmt if code != "ZC5" else fmt)
        f = aux_fmt if code != "ZC5" else fmt
        return Sink(out / name, f, names=list(layout.fields), layout=layout)

    b_sinks = []
    for f in range(core.N_MONTHS):
        if fmt == "rif":
            ms = _ymd(core.MONTH_START[f])
            b_sinks.append(Sink(out / f"carrier_{ms[:4]}_{ms[5:7]}.txt", "rif", names=rif_cols, delimiter="|"))
        else:
            b_sinks.append(cclf_sink("ZC5", core.DELIVERY[f], L5))
    a1 = [cclf_sink("ZC1", core.DELIVERY[f], L1) for f in range(core.N_MONTHS)]
    a4 = [cclf_sink("ZC4", core.DELIVERY[f], L4) for f in range(core.N_MONTHS)]
    s8 = cclf_sink("ZC8", core.DELIVERY[-1], L8)
    all_sinks = b_sinks + a1 + a4 + [s8]

    file_stats = [dict(file=s.path.name, lines=0, redelivered=0, cancels=0, adjustments=0, denied=0,
                       non_a=0, malformed=0) for s in b_sinks]
    malformed = []
    xwalks = []
    patients_w = None
    pt_tmp = truth_dir / f".patients.parquet.tmp{os.getpid()}"
    n_patients = 0
    n_parta = n_parta_dx = n_cclf8 = 0
    truth_counts = dict(cohort_patients=0, planted_first_episodes=0, under_18=0, deaths=0, absent_from_cclf8=0)
    def make_block(bi, base_in: Future, base_out: Future):
        """Worker: generate block bi, give it its ids (claim id / control number ranges continue
        those of block bi - 1, so the bytes do not depend on the number of workers) and render its
        Part B rows into per-month payloads (arrow tables for Parquet, bytes otherwise)."""
        try:
            seq0 = bi * ppb
            npat = min(ppb, npat_total - seq0)
            used = core.Counters(0, 0, 0, 0)
            blk = core.gen_block(bi, seq0, npat, wd, seed, used, lines_hint=int(npat * LINES_PER_PATIENT))
            base = base_in.result()
            base_out.set_result(core.Counters(base.claim_id + used.claim_id, base.cntl + used.cntl,
                                              base.parta_id + used.parta_id, base.parta_cntl + used.parta_cntl))
        except BaseException as e:
            if not base_out.done():
                base_out.set_exception(e)
            raise
        rows, bounds, pa_, pa_dx, demo, xwalk, truth = (blk.rows, blk.bounds, blk.parta, blk.parta_dx, blk.demo,
                                                        blk.xwalk, blk.truth)
        rows["cid"] += base.claim_id
        rows["cntl"] += base.cntl
        pa_["cid"] += base.parta_id
        pa_["cntl"] += base.parta_cntl
        partb = []
        for f in range(core.N_MONTHS):
            a, b = int(bounds[f]), int(bounds[f + 1])
            if a == b:
                partb.append(None)
                continue
            r = _slice(rows, a, b)
            mal = r["mal"]
            if fmt == "rif":
                payload = render.frame_bytes(frames.rif_frame(r, wd), "rif", rif_cols, delimiter="|")
            else:
                fr, trunc = frames.cclf5_frame(r, wd)
                payload = render.frame_bytes(fr, fmt, L5_names, layout=L5, truncate=trunc if fmt == "fixed" else None)
            st = dict(lines=b - a, redelivered=int((r["vkind"] == 1).sum()), cancels=int((r["vkind"] == 2).sum()),
                      adjustments=int((r["vkind"] == 3).sum()), denied=int((r["dnl"] == 1).sum()),
                      non_a=int((r["prcsg"] > 0).sum()))
            mals = []
            for i in np.flatnonzero(mal).tolist():
                kind = core.MALFORMED_KINDS[mal[i] - 1]
                if kind == "wrong_length" and fmt != "fixed":
                    continue
                mals.append((kind, i, f"{int(r['cid'][i]):013d}", int(r["lnum"][i])))
            partb.append((payload, st, mals))
        del rows
        return partb, pa_, pa_dx, demo, xwalk, truth, frames.patients_truth(truth, wd)

    def write_block(bi, partb, pa_, pa_dx, demo, truth, ttable):
        nonlocal patients_w, n_patients, n_parta, n_parta_dx, n_cclf8
        # ---- Part B
        nb = 0
        for f, item in enumerate(partb):
            if item is None:
                continue
            payload, st_b, mals = item
            sink = b_sinks[f]
            before = sink.rows
            sink.write_payload(payload, st_b["lines"])
            st = file_stats[f]
            for k, v in st_b.items():
                st[k] += v
            nb += st_b["lines"]
            for kind, i, cid, lnum in mals:
                st["malformed"] += 1
                malformed.append(dict(kind=kind, file=sink.path.name, row=before + i + 1, claim_id=cid,
                                      line_num=lnum))
        # ---- Part A
        pfile = pa_["file"]
        pb = np.searchsorted(pfile, np.arange(core.N_MONTHS + 1))
        dfile = pfile[pa_dx["claim"]]
        db = np.searchsorted(dfile, np.arange(core.N_MONTHS + 1))
        for f in range(core.N_MONTHS):
            if pb[f] < pb[f + 1]:
                a1[f].write(frames.cclf1_frame(_slice(pa_, pb[f], pb[f + 1]), wd, fac_npi))
            if db[f] < db[f + 1]:
                a4[f].write(frames.cclf4_frame(pa_, _slice(pa_dx, db[f], db[f + 1])))
        n_parta += len(pfile)
        n_parta_dx += len(dfile)
        # ---- CCLF8 (some beneficiaries absent)
        keep = ~demo["absent"]
        s8.write(frames.cclf8_frame({k: v[keep] for k, v in demo.items()}))
        n_cclf8 += int(keep.sum())
        # ---- truth
        if patients_w is None:
            patients_w = pq.ParquetWriter(pt_tmp, ttable.schema, compression="zstd")
        patients_w.write_table(ttable)
        n_patients += len(truth["cohort"])
        truth_counts["cohort_patients"] += int((truth["cohort"] > 0).sum())
        truth_counts["planted_first_episodes"] += int(truth["epi"].sum())
        truth_counts["under_18"] += int(truth["under18"].sum())
        truth_counts["deaths"] += int((truth["death"] >= 0).sum())
        truth_counts["absent_from_cclf8"] += int(truth["absent"].sum())
        say(f"block {bi + 1}/{nblocks}: {nb} Part B rows")

    # Blocks are generated and rendered by worker threads (numpy and arrow release the GIL), at
    # most `ahead` blocks in flight; this thread writes them in block order, so the bytes do not
    # depend on the number of workers or on timing.
    L5_names = list(L5.fields)
    blocks = [bi for bi in range(nblocks) if min(ppb, npat_total - bi * ppb) > 0]
    workers = max(1, min(GEN_WORKERS, len(blocks)))
    ahead = workers
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="asm-gen")
    bases = [Future() for _ in range(len(blocks) + 1)]
    bases[0].set_result(core.Counters())
    futs = {}

    def submit(k):
        if k < len(blocks) and k not in futs:
            futs[k] = pool.submit(make_block, blocks[k], bases[k], bases[k + 1])

    try:
        for k in range(min(ahead, len(blocks))):
            submit(k)
        for k, bi in enumerate(blocks):
            partb, pa_, pa_dx, demo, xwalk, truth, ttable = futs.pop(k).result()
            submit(k + ahead)
            xwalks.append(xwalk)
            write_block(bi, partb, pa_, pa_dx, demo, truth, ttable)
            del partb, pa_, pa_dx, demo, truth, ttable
        for s in all_sinks:
            s.close()
            say(f"wrote {s.path.name} ({s.rows} rows)")
    except BaseException:
        for fu in futs.values():
            fu.cancel()
        for fu in bases:
            if not fu.done():
                fu.set_exception(RuntimeError("generation aborted"))
        pool.shutdown(wait=True)
        for s in all_sinks:
            s.abort()
        if patients_w is not None:
            patients_w.close()
            pt_tmp.unlink(missing_ok=True)
        raise
    pool.shutdown(wait=True)
    patients_w.close()
    os.replace(pt_tmp, truth_dir / "patients.parquet")

    # ---- CCLF9: an earlier partial delivery and the latest cumulative one
    xw = {k: np.concatenate([x[k] for x in xwalks]) for k in xwalks[0]}
    cclf9_files = []
    early_day = core.DELIVERY[17]  # 2026-07-10
    for deliv, mask in ((early_day, xw["obslt"] < early_day - 9), (core.DELIVERY[-1], np.ones(len(xw["crnt"]), bool))):
        s9 = cclf_sink("ZC9", deliv, L9)
        s9.write(frames.cclf9_frame({k: v[mask] for k, v in xw.items()}))
        s9.close()
        cclf9_files.append(dict(file=s9.path.name, rows=s9.rows))
        say(f"wrote {s9.path.name} ({s9.rows} rows)")

    # ---- practice-level files
    written = copy_reference_files(out)
    qrng = np.random.default_rng([seed, 3])
    practice = practice_files(wd, qrng)
    for name, text in (("providers.csv", practice.providers_csv), ("quality_submissions.csv", practice.quality_csv),
                       ("practice_attestations.csv", practice.attestations_csv)):
        _atomic_text(out / name, text)
        say(f"wrote {name}")
    _atomic_parquet(truth_dir / "participants.parquet", practice.participants)

    b_total = sum(s["lines"] for s in file_stats)
    kinds = core.MALFORMED_KINDS if fmt == "fixed" else core.MALFORMED_KINDS[1:]
    seconds = time.perf_counter() - t0
    manifest = dict(
        generator="pipelines.generate", version=1, seed=seed, scale=scale, fmt=fmt, target_lines=target,
        service_dates=[_ymd(core.START), _ymd(core.END)],
        partb_layout="rif_carrier" if fmt == "rif" else "cclf5",
        partb_files=file_stats, partb_lines=b_total,
        redelivered_copies=sum(s["redelivered"] for s in file_stats),
        cancel_versions=sum(s["cancels"] for s in file_stats),
        adjustment_versions=sum(s["adjustments"] for s in file_stats),
        denied_lines=sum(s["denied"] for s in file_stats),
        non_a_lines=sum(s["non_a"] for s in file_stats),
        malformed_counts={k: sum(1 for m in malformed if m["kind"] == k) for k in kinds},
        malformed=malformed,
        malformed_values=dict(bad_amount=frames.BAD_AMOUNT_RIF if fmt == "rif" else frames.BAD_AMOUNT_CCLF,
                              bad_date=frames.BAD_DATE_RIF if fmt == "rif" else frames.BAD_DATE_CCLF),
        parta=dict(files=[dict(file=s.path.name, rows=s.rows) for s in a1], claims=n_parta,
                   cclf4_files=[dict(file=s.path.name, rows=s.rows) for s in a4], diagnoses=n_parta_dx),
        cclf8=dict(file=s8.path.name, rows=n_cclf8),
        cclf9=cclf9_files,
        id_changes=dict(changed_benes=int(sum((x["prvs"] != x["crnt"]).sum() for x in xwalks)) - 2,
                        crosswalk_rows=int(len(xw["crnt"])), chains=1, self_mappings=1, two_cycles=1),
        patients=n_patients, **truth_counts,
        participants=int(len(wd.p_tin)), tins=len(wd.tins), npis=len(wd.npis),
        other_files=written + ["providers.csv", "quality_submissions.csv", "practice_attestations.csv"],
        seconds=round(seconds, 3),
    )
    manifest.pop("seconds")  # keep the manifest deterministic
    _atomic_text(truth_dir / "manifest.json", json.dumps(manifest, indent=1, sort_keys=False) + "\n")
    seconds = time.perf_counter() - t0
    summary = dict(out_dir=str(out), fmt=fmt, seed=seed, partb_lines=b_total, parta_claims=n_parta,
                   patients=n_patients, files=len(all_sinks) + 2 + 5, malformed=len(malformed),
                   seconds=round(seconds, 3), lines_per_s=round(b_total / max(seconds, 1e-9)))
    say(f"done: {b_total} Part B lines in {seconds:.1f}s ({summary['lines_per_s']:,} lines/s)")
    return summary
