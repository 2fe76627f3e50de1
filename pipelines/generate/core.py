"""Block-wise, vectorised generation of patients, claims and delivery noise.

A block is a slice of patients; everything about a patient (all claims, all versions, Part A,
demographics, id changes) is generated in its block, so blocks stream to the monthly files with
bounded memory.  No Python loop runs over claim lines.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import world as W
from .render import day

START = day("2025-01-01")
END = day("2027-12-31")
BIG = 1 << 30
N_MONTHS = 36
MONTH_START = np.array([day(f"{2025 + m // 12}-{m % 12 + 1:02d}-01") for m in range(N_MONTHS + 2)])
# file f holds service month f and is delivered on the 10th of the next month
DELIVERY = MONTH_START[1:N_MONTHS + 1] + 9


def month_of(d: np.ndarray) -> np.ndarray:
    return np.searchsorted(MONTH_START, d, side="right") - 1


# patterns of cohort patients (E2 windows: HF 180 days, LBP 60 days)
PATTERNS = ["pair_in", "pair_edge", "pair_out", "single", "same_day", "shared", "diff_npi_same_tin",
            "bad_pos", "chain", "prior_single", "telehealth"]
PATTERN_P = np.array([.34, .05, .08, .07, .04, .13, .05, .04, .08, .06, .06])
EPISODE_PATTERNS = {0, 1, 5, 8, 9, 10}  # first planted episode exists (pair scope npi)
SHARED_COMBOS = np.array([[3, 7], [2, 5], [2, 4], [3, 6], [2, 3]])  # main lines, other lines

MALFORMED_KINDS = ["wrong_length", "bad_amount", "bad_date", "missing_claim_id", "blank_bene_id",
                   "thru_before_from"]
MALFORMED_RATE = 0.0002 / len(MALFORMED_KINDS)
BG_LAMBDA = 6.0


# quantised sampling table for background diagnoses (much faster than choice(p=...))
_DX_BG_TABLE = np.repeat(W.DX_BG, np.maximum(1, np.round(W.DX_BG_P * 1024).astype(np.int64))).astype(np.int16)
# 256-entry version drawn with one random byte per value (DX has < 256 codes)
_DX_BG_TABLE256 = _DX_BG_TABLE[(np.arange(256) * len(_DX_BG_TABLE)) // 256].astype(np.uint8)
MAX_CLAIM_DX = 6  # claims carry 1..6 diagnoses: CLM_DGNS_7..12 are always empty


_HC_MU32 = W.HC_MU.astype(np.float32)
_HC_SIGMA32 = W.HC_SIGMA.astype(np.float32)


class Acc:
    """Accumulates dicts of equally long arrays."""

    def __init__(self):
        self.parts: list[dict] = []

    def add(self, **cols):
        n = {len(np.atleast_1d(v)) for v in cols.values() if np.ndim(v) > 0}
        n = n.pop() if n else 1
        self.parts.append({k: (np.full(n, v) if np.ndim(v) == 0 else np.asarray(v)) for k, v in cols.items()})

    def cat(self) -> dict:
        keys = self.parts[0].keys()
        return {k: np.concatenate([p[k] for p in self.parts]) for k in keys}


def _uniform_days(rng, lo, hi):
    """Uniform integer day in [lo, hi] (arrays), hi >= lo."""
    lo = np.asarray(lo)
    hi = np.asarray(hi)
    return lo + (rng.random(np.broadcast(lo, hi).shape) * (hi - lo + 1)).astype(np.int64)


def _pick_weighted(rng, idx: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    p = weights[idx] / weights[idx].sum()
    return idx[rng.choice(len(idx), n, p=p)]


def _malformed_candidates(rows: dict, idx: np.ndarray) -> np.ndarray:
    return ((rows["vkind"][idx] == 0) & ~rows["protected"][idx] & ~rows["claimcancel"][idx]
            & ~rows["claimrd"][idx] & (rows["dnl"][idx] == 0) & (rows["prcsg"][idx] == 0))


def _cap_per_file(idx: np.ndarray, file: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Keep the rows of idx (in order) whose rank within their file is below that file's cap."""
    fi = file[idx]
    o = np.argsort(fi, kind="stable")
    fi_s = fi[o]
    first = np.searchsorted(fi_s, fi_s)
    rank = np.empty(len(idx), np.int64)
    rank[o] = np.arange(len(idx)) - first
    return idx[rank < cap[fi]]


def _pick_malformed(rng, rows: dict, cap: np.ndarray, need: int) -> np.ndarray:
    """Up to `need` random rows (each file at most cap[file]) among the plain original lines.
    Draws a few random row numbers instead of permuting all rows; falls back to a full random
    permutation when the sample does not yield enough rows."""
    nrows = len(rows["file"])
    if need <= 0 or nrows == 0:
        return np.zeros(0, np.int64)
    draw = rng.integers(0, nrows, min(nrows, 8 * need + 64))
    _, first = np.unique(draw, return_index=True)
    draw = draw[np.sort(first)]
    draw = draw[_malformed_candidates(rows, draw)]
    chosen = _cap_per_file(draw, rows["file"], cap)[:need]
    if len(chosen) == need:
        return chosen
    ci = np.flatnonzero(_malformed_candidates(rows, slice(None)))
    ci = ci[rng.permutation(len(ci))]
    return _cap_per_file(ci, rows["file"], cap)[:need]


@dataclass
class Counters:
    claim_id: int = 1_000_000_000
    cntl: int = 7_000_000_000
    parta_id: int = 9_000_000_000_000
    parta_cntl: int = 8_000_000_000


def gen_block(bi: int, seq0: int, npat: int, wd: W.World, seed: int, ctr: Counters, lines_hint: int):
    rng = np.random.default_rng([seed, 1, bi])
    pats = np.arange(npat)
    seq = seq0 + pats
    # ------------------------------------------------------------------ patients
    cohort = rng.choice(3, npat, p=[.76, .11, .13])  # 0 none, 1 HF, 2 LBP
    pattern = np.where(cohort > 0, rng.choice(len(PATTERNS), npat, p=PATTERN_P), -1)
    win = np.where(cohort == 1, 180, 60)
    hf_group = wd.group(W.HF_SPEC)
    lbp_group = wd.group(["05", "09", "14", "20", "25", "72"])
    pcp_group = wd.group(W.PCP_SPECS)
    main = np.full(npat, -1)
    cw = wd.p_weight ** 3  # episodes concentrate on high-volume specialists
    main[cohort == 1] = _pick_weighted(rng, hf_group, cw, int((cohort == 1).sum()))
    main[cohort == 2] = _pick_weighted(rng, lbp_group, cw, int((cohort == 2).sum()))
    # a pair within one TIN needs a sibling NPI; otherwise fall back to a plain pair
    no_sib = (pattern == 6) & (wd.p_sibling[np.maximum(main, 0)] < 0)
    pattern[no_sib] = 0
    pcp = _pick_weighted(rng, pcp_group, wd.p_weight, npat)
    pdx = np.where(cohort == 1, W.DX_HF[rng.integers(0, len(W.DX_HF), npat)],
                   W.DX_LBP[rng.integers(0, len(W.DX_LBP), npat)])
    T = _uniform_days(rng, np.full(npat, day("2026-01-02")), day("2027-06-30"))
    T = np.where(pattern == 8, _uniform_days(rng, np.full(npat, day("2025-01-20")), day("2025-12-31")), T)
    gap = _uniform_days(rng, np.ones(npat, np.int64), win)
    gap = np.where(pattern == 1, win, gap)
    gap = np.where(pattern == 2, np.where(rng.random(npat) < .5, win + 1, win + 20), gap)
    epi = np.isin(pattern, list(EPISODE_PATTERNS))
    wend = np.minimum(T + 364, END)

    C = Acc()  # claims: pat, date, part, pos, kind, hc, cohort(dx), dxmode

    def visits(idx, dates, parts, pos=None, kind=1):
        if len(idx) == 0:
            return
        n = len(idx)
        if pos is None:
            pos = W.POS_OFFICE[rng.choice(4, n, p=W.POS_OFFICE_P)]
        first = rng.random(n) < .5
        hcs = np.where(first, W.EM_NEW[rng.integers(0, 4, n)], W.EM_EST[rng.integers(0, 3, n)])
        hcs = np.where(rng.random(n) < .12, W.EM_CONSULT[rng.integers(0, 4, n)], hcs)
        dxm = rng.choice(3, n, p=[.7, .15, .15])
        C.add(pat=idx, date=dates, part=parts, pos=pos, kind=kind, hc=hcs, coh=cohort[idx], dxmode=dxm)

    office = W.POS_OFFICE[0]
    # trigger / first visit
    sel = np.flatnonzero(cohort > 0)
    trig_pos = np.where(pattern[sel] == 7, W.POS.idx("21"),
                        np.where(pattern[sel] == 10, W.POS.idx("22"), -1))
    p_norm = W.POS_OFFICE[rng.choice(4, len(sel), p=W.POS_OFFICE_P)]
    visits(sel, T[sel], main[sel], np.where(trig_pos >= 0, trig_pos, p_norm))
    # second visit (all but single)
    s2 = sel[pattern[sel] != 3]
    d2 = np.where(pattern[s2] == 4, T[s2], T[s2] + gap[s2])
    part2 = np.where(pattern[s2] == 6, wd.p_sibling[main[s2]], main[s2])
    pos2 = np.where(pattern[s2] == 10, W.POS.idx("02"), office)
    visits(s2, d2, part2, pos2)
    # prior single visit outside the window before the trigger
    s = np.flatnonzero(pattern == 9)
    visits(s, T[s] - win[s] - rng.integers(1, 61, len(s)), main[s])
    # chain: a second pair after the first episode ends (trigger >= T + 365)
    s = np.flatnonzero(pattern == 8)
    t2 = T[s] + 365 + rng.integers(0, 61, len(s))
    g2 = _uniform_days(rng, np.ones(len(s), np.int64), win[s])
    visits(s, t2, main[s])
    visits(s, t2 + g2, main[s])
    second_trigger = np.full(npat, -1)
    second_trigger[s] = t2
    # follow-ups by the main clinician inside the first episode, after the confirming visit
    main_lines = np.where(epi, 2, 0)
    other_lines = np.zeros(npat, np.int64)
    fu_ok = epi & (pattern != 8) & (pattern != 5) & (T + gap + 1 <= wend)
    nfu = np.where(fu_ok, rng.poisson(1.2, npat), 0)
    s = np.repeat(pats, nfu)
    visits(s, _uniform_days(rng, T[s] + gap[s] + 1, wend[s]), main[s])
    main_lines += nfu
    # other clinicians of the same cohort inside the first episode
    noth = np.where(epi & (pattern != 5) & (pattern != 8), (rng.random(npat) < .3).astype(np.int64), 0)
    # shared pattern: main share near 30%
    sh = np.flatnonzero(pattern == 5)
    combo = SHARED_COMBOS[rng.integers(0, len(SHARED_COMBOS), len(sh))]
    extra_main = combo[:, 0] - 2
    ok = T[sh] + gap[sh] + 1 <= wend[sh]
    extra_main = np.where(ok, extra_main, 0)
    s = np.repeat(sh, extra_main)
    visits(s, _uniform_days(rng, T[s] + gap[s] + 1, wend[s]), main[s])
    main_lines[sh] += extra_main
    noth[sh] = combo[:, 1]
    s = np.repeat(pats, noth)
    grp_pick_hf = _pick_weighted(rng, hf_group, wd.p_weight, len(s))
    grp_pick_lbp = _pick_weighted(rng, lbp_group, wd.p_weight, len(s))
    oth = np.where(cohort[s] == 1, grp_pick_hf, grp_pick_lbp)
    oth = np.where(oth == main[s], wd.p_sibling[oth], oth)  # never the main participant itself
    bad = oth < 0
    oth = np.where(bad, np.where(cohort[s] == 1, hf_group[0], lbp_group[0]), oth)
    oth = np.where(oth == main[s], np.where(cohort[s] == 1, hf_group[-1], lbp_group[-1]), oth)
    visits(s, _uniform_days(rng, T[s] + 1, wend[s]), oth)
    other_lines += noth
    share = np.where(epi, main_lines / np.maximum(main_lines + other_lines, 1), np.nan)
    # condition-related services inside the first episode
    nsvc = np.where(epi, rng.poisson(3.0, npat), 0)
    s = np.repeat(pats, nsvc)
    if len(s):
        hfm = cohort[s] == 1
        hcs = np.where(hfm, W.HF_SVC[rng.choice(len(W.HF_SVC), len(s), p=W.HF_SVC_P)],
                       W.LBP_SVC[rng.choice(len(W.LBP_SVC), len(s), p=W.LBP_SVC_P)])
        rad = wd.group(["30"])
        pt = wd.group(["65"])
        chiro = wd.group(["35"])
        billed = main[s].copy()
        for codes, grp in ((W.hc("72148", "72100"), rad), (W.hc("97110", "97140"), pt), (W.hc("98940"), chiro)):
            m = np.isin(hcs, codes) & (rng.random(len(s)) < .7)
            if len(grp) and m.any():
                billed[m] = _pick_weighted(rng, grp, wd.p_weight, int(m.sum()))
        pos = np.where(np.isin(hcs, W.hc("63030", "22612")), W.POS.idx("22"), office)
        C.add(pat=s, date=_uniform_days(rng, T[s], wend[s]), part=billed, pos=pos, kind=2, hc=hcs,
              coh=cohort[s], dxmode=0)
    # background visits (non-cohort diagnoses), incl. one PCP visit in the 365 days before T
    lam = rng.gamma(2.0, BG_LAMBDA / 2, npat)
    nbg = rng.poisson(lam)
    s = np.repeat(pats, nbg)
    n = len(s)
    part = np.where(rng.random(n) < .55, pcp[s], _pick_weighted(rng, np.arange(len(wd.p_tin)), wd.p_weight, n))
    sp = np.array(wd.SPEC.values)[wd.p_spec[part]]
    dates = _uniform_days(rng, np.full(n, START), END)
    s2 = np.flatnonzero(epi)
    s = np.concatenate([s, s2])
    part = np.concatenate([part, pcp[s2]])
    sp = np.concatenate([sp, np.full(len(s2), W.PCP_SPECS[0])])
    dates = np.concatenate([dates, T[s2] - rng.integers(20, 330, len(s2))])
    n = len(s)
    hcs = np.where(rng.random(n) < .3, W.EM_EST[rng.integers(0, 5, n)], W.EM_EST[rng.integers(0, 3, n)])
    hcs = np.where(rng.random(n) < .1, W.EM_NEW[rng.integers(0, 4, n)], hcs)
    hcs = np.where(rng.random(n) < .03, W.hc("G0439")[0], hcs)
    kind = np.zeros(n, np.int64)
    pos = W.POS_OFFICE[rng.choice(4, n, p=W.POS_OFFICE_P)]
    pos = np.where((rng.random(n) < .02) & ~np.isin(sp, W.PCP_SPECS), W.POS.idx("21"), pos)
    m = sp == "30"
    hcs[m] = W.RADIOLOGY[rng.integers(0, len(W.RADIOLOGY), m.sum())]
    pos[m] = np.where(rng.random(m.sum()) < .6, W.POS.idx("22"), office)
    m2 = sp == "65"
    hcs[m2] = W.PT_CODES[rng.integers(0, len(W.PT_CODES), m2.sum())]
    m3 = sp == "35"
    hcs[m3] = W.hc("98940")[0]
    m4 = sp == "93"
    hcs[m4] = W.ED[rng.integers(0, len(W.ED), m4.sum())]
    pos[m4] = W.POS.idx("23")
    kind[m | m2 | m3 | m4] = 4
    C.add(pat=s, date=dates, part=part, pos=pos, kind=kind, hc=hcs, coh=0, dxmode=0)
    # a few DME claims (claim type 72)
    s = np.flatnonzero(rng.random(npat) < .02)
    C.add(pat=s, date=_uniform_days(rng, np.full(len(s), START), END), part=pcp[s], pos=W.POS.idx("12"),
          kind=3, hc=W.DME[rng.integers(0, len(W.DME), len(s))], coh=0, dxmode=0)
    cl = C.cat()
    keep = (cl["date"] >= START) & (cl["date"] <= END)
    cl = {k: v[keep] for k, v in cl.items()}
    # sort claims by service date, then patient (claim ids increase with time)
    order = np.lexsort((cl["pat"], cl["date"]))
    cl = {k: v[order] for k, v in cl.items()}
    nc = len(cl["pat"])

    # ------------------------------------------------------------------ id changes (N1 / CCLF9)
    change = rng.random(npat) < .006
    if bi == 0:
        change[:2] = True
    chain = change & (rng.random(npat) < .15)
    if bi == 0:
        chain[0] = True
    d1 = np.where(change, _uniform_days(rng, np.full(npat, day("2025-03-01")), day("2027-06-30")), BIG)
    d2 = np.where(chain, d1 + rng.integers(60, 150, npat), BIG)
    c0 = wd.mbi.codes(seq)
    c1 = wd.mbi.codes((1 << 34) + seq)
    c2 = wd.mbi.codes((1 << 35) + seq)
    current = np.where(chain, c2, np.where(change, c1, c0))

    def mbi_at(p, d):
        return np.where(d < d1[p], c0[p], np.where(d < d2[p], c1[p], c2[p]))

    # ------------------------------------------------------------------ claim attributes
    ntail = np.select([cl["kind"] == 0, cl["kind"] == 1, cl["kind"] == 4],
                      [rng.choice(4, nc, p=[.42, .26, .18, .14]), (rng.random(nc) < .35).astype(np.int64),
                       (rng.random(nc) < .2).astype(np.int64)], 0)
    nlines = 1 + ntail
    ndx = 1 + rng.choice(MAX_CLAIM_DX, nc, p=[.25, .25, .2, .15, .1, .05])
    ndx = np.where(cl["dxmode"] == 1, np.maximum(ndx, 2), ndx)
    # (nc, 6) uint8 indices into W.DX; 0 ('~') past the claim's number of diagnoses
    dx = _DX_BG_TABLE256[rng.integers(0, 256, (nc, MAX_CLAIM_DX), dtype=np.uint8)]
    dx *= np.arange(MAX_CLAIM_DX)[None, :] < ndx[:, None]
    cdx = pdx[cl["pat"]]
    is_coh = cl["coh"] > 0
    both = is_coh & (cl["dxmode"] == 0)
    dx[both, 0] = cdx[both]
    hdr = np.flatnonzero(is_coh & (cl["dxmode"] == 1))
    dx[hdr, 1 + (rng.random(len(hdr)) * (ndx[hdr] - 1)).astype(np.int64)] = cdx[hdr]
    line_dx1 = np.where(is_coh & (cl["dxmode"] == 2), cdx, dx[:, 0])
    ctype = np.where(cl["kind"] == 3, 72, 71)
    rfrg = np.where(np.isin(wd.p_spec[cl["part"]], wd.SPEC.indices(W.PCP_SPECS)) | (rng.random(nc) < .3),
                    len(wd.npis), wd.p_npi[pcp[cl["pat"]]])
    # protected: cohort E&M claims (qualifying lines for E1) never suffer destructive noise
    protected = cl["kind"] == 1
    file0 = month_of(cl["date"])
    denied = ~protected & (rng.random(nc) < .015)
    can_follow = file0 < N_MONTHS - 1
    redeliver = can_follow & (rng.random(nc) < .01)
    cancel = can_follow & ~denied & np.where(protected, rng.random(nc) < .005, rng.random(nc) < .015)
    reissue = cancel & (protected | (rng.random(nc) < .5))
    fc = np.minimum(file0 + rng.integers(1, 4, nc), N_MONTHS - 1)
    fa = np.minimum(fc + rng.integers(0, 3, nc), N_MONTHS - 1)
    efct0 = np.minimum(cl["date"] + rng.integers(3, 15, nc), DELIVERY[file0] - 1)
    efct_c = DELIVERY[fc] - rng.integers(10, 16, nc)
    efct_a = DELIVERY[fa] - rng.integers(1, 6, nc)
    cid0 = ctr.claim_id + np.arange(nc, dtype=np.int64)
    cntl = ctr.cntl + np.arange(nc, dtype=np.int64)
    ctr.claim_id += nc
    ncx = int(cancel.sum())
    cid_c = np.zeros(nc, np.int64)
    cid_c[cancel] = ctr.claim_id + np.arange(ncx)
    ctr.claim_id += ncx
    nre = int(reissue.sum())
    cid_a = np.zeros(nc, np.int64)
    cid_a[reissue] = ctr.claim_id + np.arange(nre)
    ctr.claim_id += nre
    ctr.cntl += nc

    # ------------------------------------------------------------------ lines
    L = int(nlines.sum())
    lc = np.repeat(np.arange(nc), nlines)
    starts = np.cumsum(nlines) - nlines
    lnum = np.arange(L) - np.repeat(starts, nlines) + 1
    k = cl["kind"][lc]
    hcl = np.where(lnum == 1, cl["hc"][lc], W.LABS[rng.integers(0, len(W.LABS), L)])
    m = (lnum > 1) & (k == 4)
    hcl[m] = cl["hc"][lc][m]  # e.g. a second therapy line / second ED line
    units = np.where(np.isin(hcl, W.THERAPY_MULTI), rng.integers(1, 5, L), 1)
    z = rng.standard_normal(L, dtype=np.float32)
    allowed = np.round(np.exp(_HC_MU32[hcl] + _HC_SIGMA32[hcl] * z) * (units * 100).astype(np.float32)).astype(np.int64)
    del z
    allowed = np.maximum(allowed, 1)
    paid = np.round(allowed * rng.uniform(.78, .8, L)).astype(np.int64)
    den_l = denied[lc]
    allowed[den_l] = 0
    paid[den_l] = 0
    line_dx = np.where(lnum == 1, line_dx1[lc], dx[lc, 0])
    line_dx = np.where((lnum > 1) & is_coh[lc] & (cl["dxmode"][lc] == 2), cdx[lc], line_dx)
    p_l = cl["part"][lc]
    spec_l = wd.p_spec[p_l]
    alt = wd.p_spec2[p_l]
    use2 = (alt >= 0) & (rng.random(L) < .2)
    spec_l = np.where(use2, alt, spec_l)
    betos = np.where(rng.random(L) < .08, 0, W.HC_BETOS[hcl])
    prcsg = np.zeros(L, np.int64)
    nona_ok = ~protected[lc] & ~den_l & ~cancel[lc]
    nona = nona_ok & (rng.random(L) < .01)
    prcsg[nona] = np.where(rng.random(int(nona.sum())) < .5, 1, 2)  # R / N

    # ------------------------------------------------------------------ versions (rows)
    # one row per line version: originals, redelivered copies, cancels, re-issued adjustments; each
    # segment's delivery file is known before the (stable, radix) sort by file
    rd = np.flatnonzero(redeliver[lc])
    cx = np.flatnonzero(cancel[lc])
    ad = np.flatnonzero(reissue[lc])
    src = np.concatenate([np.arange(L), rd, cx, ad])
    seg = np.cumsum([0, L, len(rd), len(cx), len(ad)])
    vkind = np.repeat(np.arange(4, dtype=np.int8), np.diff(seg))
    file0_8 = file0.astype(np.int8)
    rfile = np.concatenate([file0_8[lc], file0_8[lc[rd]] + 1, fc.astype(np.int8)[lc[cx]], fa.astype(np.int8)[lc[ad]]])
    order = np.argsort(rfile, kind="stable")  # int8 keys: radix sort
    src, vkind, rfile = src[order], vkind[order], rfile[order]
    c = lc[src]
    cid_v = np.concatenate([cid0[lc], cid0[lc[rd]], cid_c[lc[cx]], cid_a[lc[ad]]])
    rcid = cid_v[order]
    radj = np.array([0, 0, 1, 2], np.int8)[vkind]  # original / redelivered 0, cancel 1, adjustment 2
    efct_v = np.concatenate([efct0[lc], efct0[lc[rd]], efct_c[lc[cx]], efct_a[lc[ad]]]).astype(np.int32)
    refct = efct_v[order]
    del cid_v, efct_v
    rallow = allowed[src]
    rpaid = paid[src]
    adj_rows = np.flatnonzero(vkind == 3)
    factor = rng.uniform(.85, 1.15, len(adj_rows))
    rallow[adj_rows] = np.round(rallow[adj_rows] * factor).astype(np.int64)
    rpaid[adj_rows] = np.round(rpaid[adj_rows] * factor).astype(np.int64)
    rdate = cl["date"].astype(np.int32)[c]
    cancel_c = cancel[c]
    # final action for RIF: the surviving version of each line is 'F'
    superseded = (vkind == 2) | ((vkind <= 1) & cancel_c)
    pat_c = cl["pat"][c]
    rows = dict(file=rfile, cid=rcid, lnum=lnum.astype(np.int8)[src], mbi=mbi_at(pat_c, rdate),
                ctype=ctype.astype(np.int16)[c], date=rdate, spec=spec_l.astype(np.int32)[src],
                hc=hcl.astype(np.int32)[src], pos=cl["pos"].astype(np.int32)[c], paid=rpaid, allowed=rallow,
                ldx=line_dx.astype(np.int32)[src], part=p_l[src], dnl=den_l[src].astype(np.int8),
                prcsg=prcsg.astype(np.int8)[src], adj=radj, efct=refct, cntl=cntl[c],
                units=units.astype(np.int8)[src], betos=betos.astype(np.int32)[src], rfrg=rfrg.astype(np.int32)[c],
                vkind=vkind, final=(~superseded).astype(np.int8), kind=k.astype(np.int8)[src],
                protected=protected[c], claimcancel=cancel_c, claimrd=redeliver[c])
    rows["dx"] = dx[c]
    nrows = len(order)
    # ------------------------------------------------------------------ malformed rows
    bounds = np.searchsorted(rows["file"], np.arange(N_MONTHS + 1, dtype=rows["file"].dtype))
    per_file = np.diff(bounds)
    cap = np.floor(per_file * 0.005).astype(np.int64)
    n_kind = max(3 if bi == 0 else 0, int(round(lines_hint * MALFORMED_RATE)))
    need = n_kind * len(MALFORMED_KINDS)
    chosen = _pick_malformed(rng, rows, cap, need)
    mal = np.zeros(nrows, np.int8)
    mal[chosen] = 1 + (np.arange(len(chosen)) % len(MALFORMED_KINDS))
    rows["mal"] = mal
    trunc = np.zeros(nrows, np.int64)
    m1 = np.flatnonzero(mal == 1)
    trunc[m1] = rng.integers(5, 120, len(m1))
    rows["trunc"] = trunc
    thru = rows["date"].copy()
    m6 = np.flatnonzero(mal == 6)
    thru[m6] -= rng.integers(1, 6, len(m6)).astype(np.int32)
    rows["thru"] = thru

    # ------------------------------------------------------------------ Part A (CCLF1 + CCLF4)
    A = Acc()
    hfa = np.flatnonzero(epi & (cohort == 1) & (rng.random(npat) < .3))
    adm = T[hfa] + rng.integers(5, 300, len(hfa))
    los = rng.integers(2, 10, len(hfa))
    A.add(pat=hfa, frm=adm, thru=adm + los, ctype=60, pdx=pdx[hfa],
          drg=np.array([291, 292, 293])[rng.integers(0, 3, len(hfa))],
          amt=np.round(rng.lognormal(np.log(12000) - .125, .5, len(hfa)) * 100).astype(np.int64))
    pa_ = rng.random(len(hfa)) < .45
    ph = hfa[pa_]
    pst = adm[pa_] + los[pa_] + np.where(rng.random(len(ph)) < .8, rng.integers(1, 31, len(ph)),
                                         rng.integers(31, 46, len(ph)))
    ptype = rng.choice([20, 10, 30], len(ph), p=[.5, .4, .1])
    plos = np.where(ptype == 10, rng.integers(30, 61, len(ph)), rng.integers(7, 29, len(ph)))
    A.add(pat=ph, frm=pst, thru=pst + plos, ctype=ptype, pdx=pdx[ph], drg=0,
          amt=np.round(rng.lognormal(np.log(np.where(ptype == 10, 3000, 9000)) - .08, .4) * 100).astype(np.int64))
    lb = np.flatnonzero(epi & (cohort == 2) & (rng.random(npat) < .06))
    adm = T[lb] + rng.integers(5, 300, len(lb))
    A.add(pat=lb, frm=adm, thru=adm + rng.integers(1, 5, len(lb)), ctype=60, pdx=pdx[lb],
          drg=np.array([552, 460])[rng.integers(0, 2, len(lb))],
          amt=np.round(rng.lognormal(np.log(18000) - .125, .5, len(lb)) * 100).astype(np.int64))
    ot = np.flatnonzero(rng.random(npat) < .02)
    adm = _uniform_days(rng, np.full(len(ot), START), END - 10)
    A.add(pat=ot, frm=adm, thru=adm + rng.integers(1, 8, len(ot)), ctype=60,
          pdx=W.DX_BG[rng.integers(0, len(W.DX_BG), len(ot))],
          drg=np.array([470, 193, 392, 871])[rng.integers(0, 4, len(ot))],
          amt=np.round(rng.lognormal(np.log(14000) - .125, .5, len(ot)) * 100).astype(np.int64))
    pa = A.cat()
    keep = pa["frm"] <= END
    pa = {kk: v[keep] for kk, v in pa.items()}
    pa["thru"] = np.minimum(pa["thru"], END)
    o = np.lexsort((pa["pat"], pa["frm"], month_of(pa["thru"])))  # grouped by delivery file
    pa = {kk: v[o] for kk, v in pa.items()}
    na = len(pa["pat"])
    pa["cid"] = ctr.parta_id + np.arange(na, dtype=np.int64)
    pa["cntl"] = ctr.parta_cntl + np.arange(na, dtype=np.int64)
    ctr.parta_id += na
    ctr.parta_cntl += na
    pa["mbi"] = mbi_at(pa["pat"], pa["frm"])
    pa["file"] = month_of(pa["thru"])
    pa["efct"] = np.minimum(pa["thru"] + rng.integers(5, 20, na), DELIVERY[pa["file"]] - 1)
    pa["fac"] = rng.integers(0, 5, na)
    pa["atnd"] = np.where(pa["ctype"] == 60, wd.p_npi[np.where(main[pa["pat"]] >= 0, main[pa["pat"]],
                                                                pcp[pa["pat"]])], len(wd.npis))
    ndxa = 1 + rng.integers(1, 5, na)
    dl = np.repeat(np.arange(na), ndxa)
    sq = np.arange(len(dl)) - np.repeat(np.cumsum(ndxa) - ndxa, ndxa) + 1
    dxa = np.where(sq == 1, pa["pdx"][dl], W.DX_BG[rng.integers(0, len(W.DX_BG), len(dl))])
    pa_dx = dict(claim=dl, seq=sq, dx=dxa)

    # ------------------------------------------------------------------ demographics (CCLF8)
    last = np.full(npat, START - 1)
    np.maximum.at(last, cl["pat"], cl["date"])
    np.maximum.at(last, pa["pat"], pa["thru"])
    grp = rng.choice(3, npat, p=[.003, .12, .877])  # under 18 (ESRD), disabled < 65, aged
    dob = np.select([grp == 0, grp == 1],
                    [_uniform_days(rng, np.full(npat, day("2010-01-01")), day("2013-12-31")),
                     _uniform_days(rng, np.full(npat, day("1962-06-01")), day("1976-12-31"))],
                    _uniform_days(rng, np.full(npat, day("1928-01-01")), day("1959-12-31")))
    esrd = rng.random(npat) < .04
    stus = np.select([grp == 0, (grp == 1) & esrd, grp == 1, esrd], [4, 3, 2, 1], 0)  # 10 11 20 21 31
    stus = np.where((grp == 1) & (rng.random(npat) < .03), 4, stus)
    entl = np.select([stus == 4, (grp == 1)], [2, 1], np.where(rng.random(npat) < .2, 1, 0))
    dual = np.where(rng.random(npat) < .2, rng.integers(1, 8, npat), 0)
    dies = rng.random(npat) < .025
    death = np.where(dies, last + rng.integers(1, 61, npat), -1)
    death = np.where(death > END, -1, death)
    absent = rng.random(npat) < .01
    demo = dict(mbi=current, dob=dob, sex=rng.integers(1, 3, npat), stus=stus, entl=entl, dual=dual,
                death=death, absent=absent)

    # ------------------------------------------------------------------ id cross-walk rows
    xw = Acc()
    ch = np.flatnonzero(change)
    xw.add(crnt=c1[ch], prvs=c0[ch], efct=_uniform_days(rng, np.full(len(ch), day("2016-01-01")), day("2020-12-31")),
           obslt=d1[ch] - 1)
    cc = np.flatnonzero(chain)
    xw.add(crnt=c2[cc], prvs=c1[cc], efct=d1[cc], obslt=d2[cc] - 1)
    if bi == 0:
        selfp = np.flatnonzero(~change)[:1]
        xw.add(crnt=c0[selfp], prvs=c0[selfp], efct=day("2020-01-01"), obslt=day("9999-12-31"))
        cyc = wd.mbi.codes(np.array([1 << 36, (1 << 36) + 1]))
        xw.add(crnt=cyc, prvs=cyc[::-1], efct=day("2019-01-01"), obslt=day("2024-12-31"))
    xwalk = xw.cat()

    # ------------------------------------------------------------------ truth
    # TIN-scope confirming date (pair_scope = tin): earliest qualifying visit of the main TIN in
    # (T, T + window]; the main NPI's own confirming visit bounds it
    tin_confirm = np.where(epi | (pattern == 6), T + gap, BIG)
    q = (cl["kind"] == 1) & (cl["pos"] != W.POS.idx("21"))
    qp = cl["pat"][q]
    qd = cl["date"][q]
    same_tin = (main[qp] >= 0) & (wd.p_tin[cl["part"][q]] == wd.p_tin[np.maximum(main[qp], 0)])
    inwin = same_tin & (qd > T[qp]) & (qd <= T[qp] + win[qp]) & (epi | (pattern == 6))[qp]
    np.minimum.at(tin_confirm, qp[inwin], qd[inwin])
    has_claims = np.zeros(npat, bool)
    has_claims[cl["pat"]] = True
    truth = dict(
        current=current, cohort=cohort, pattern=pattern, epi=epi,
        trigger=np.where(epi, T, -1), confirm=np.where(epi, T + gap, -1),
        tin_trigger=np.where(epi | (pattern == 6), T, -1),
        tin_confirm=np.where(epi | (pattern == 6), tin_confirm, -1),
        second_trigger=second_trigger, main=main, share=share, pcp=pcp, death=death, dob=dob,
        absent=absent, under18=grp == 0, change=change.astype(np.int8) + chain.astype(np.int8),
        has_claims=has_claims, first_visit=np.where(cohort > 0, np.where(pattern == 9, T - 1, T), -1),
    )
    return rows, bounds, pa, pa_dx, demo, xwalk, truth
