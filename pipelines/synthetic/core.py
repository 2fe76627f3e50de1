"""Block-wise, vectorised generation of patients, claims and delivery noise.

A block is a slice of patients; everything about a patient (all claims, all versions, Part A,
demographics, id changes) is generated in its block, so blocks stream to the monthly files with
bounded memory.  No Python loop runs over claim lines.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import costs as C
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
(PAIR_IN, PAIR_EDGE, PAIR_OUT, SINGLE, SAME_DAY, SHARED, DIFF_NPI_SAME_TIN, BAD_POS, CHAIN, PRIOR_SINGLE,
 TELEHEALTH) = range(len(PATTERNS))
PATTERN_P = np.array([.47, .05, .04, .03, .03, .12, .03, .02, .07, .06, .08])
# first planted episode exists (pair scope npi)
EPISODE_PATTERNS = {PAIR_IN, PAIR_EDGE, SHARED, CHAIN, PRIOR_SINGLE, TELEHEALTH}
SHARED_COMBOS = np.array([[3, 7], [2, 5], [2, 4], [3, 6], [2, 3]])  # main lines, other lines

MALFORMED_KINDS = ["wrong_length", "bad_amount", "bad_date", "missing_claim_id", "blank_bene_id",
                   "thru_before_from"]
MALFORMED_RATE = 0.0002 / len(MALFORMED_KINDS)
BG_LAMBDA = 2.5  # mean background visits per patient over the three years

COHORT_NONE, COHORT_HF, COHORT_LBP = range(3)
COHORT_P = [.12, .42, .46]  # patients outside the cohorts, HF, LBP
# triggers: most episodes close in the PY (trigger 2026-01-02 .. 2027-01-01), the rest stay open
PY_TRIGGER_SHARE = .92
TIE_FIRST_DAY = day("2025-02-03")  # the G1 tie lines (reference year PY - 2)
# kinds of planted Part B claims (SCENARIO: lines planted for a scoring scenario, never noisy)
BACKGROUND_VISIT, COHORT_VISIT, CONDITION_SERVICE, DME_CLAIM, SPECIALTY_SERVICE, SCENARIO = range(6)
CONDITION_SERVICE_TAIL = .5  # share of condition-service claims with a second line (the same service)
OFFICE = W.POS_OFFICE[0]


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
    if n == 0:
        return np.zeros(0, np.int64)
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
    """Next ids: Part B claim id and control number, Part A claim id and control number."""
    claim_id: int = 1_000_000_000
    cntl: int = 7_000_000_000
    parta_id: int = 9_000_000_000_000
    parta_cntl: int = 8_000_000_000

    def advanced_by(self, used: Counters) -> Counters:
        return Counters(self.claim_id + used.claim_id, self.cntl + used.cntl, self.parta_id + used.parta_id,
                        self.parta_cntl + used.parta_cntl)


@dataclass
class Block:
    """Everything generated for one block of patients."""
    rows: dict  # Part B rows, one per line version, ordered by delivery file
    bounds: np.ndarray  # the rows of file f are rows[bounds[f]:bounds[f + 1]]
    parta: dict  # Part A claim headers (CCLF1), grouped by delivery file
    parta_dx: dict  # their diagnoses (CCLF4)
    demo: dict  # demographics (CCLF8)
    xwalk: dict  # id cross-walk rows (CCLF9)
    truth: dict  # what was planted, per patient


def gen_block(bi: int, seq0: int, npat: int, wd: W.World, seed: int, ctr: Counters, lines_hint: int) -> Block:
    """Generate block `bi` (patients seq0 .. seq0 + npat - 1); `ctr` gives the first ids and is
    advanced past the ids used. Every step draws from one generator, in this order."""
    rng = np.random.default_rng([seed, 1, bi])
    pt = _plan_patients(rng, wd, seq0 + np.arange(npat))
    cl, second_trigger, share = _plant_claims(rng, wd, pt, bi)
    idc = _id_changes(rng, wd, bi, pt.seq)
    coding = _code_claims(rng, wd, cl, pt)
    noise = _delivery_noise(rng, cl)
    lines = _claim_lines(rng, wd, cl, coding, noise)
    rows = _version_rows(rng, cl, coding, noise, _claim_ids(ctr, noise), lines, idc)
    bounds = _plant_malformed(rng, rows, bi, lines_hint)
    parta, parta_dx = _parta_claims(rng, wd, pt, second_trigger, idc, ctr)
    demo, under18 = _demographics(rng, pt, cl, parta, idc)
    xwalk = _crosswalk_rows(rng, wd, bi, idc)
    truth = _truth(wd, pt, cl, idc, demo, under18, second_trigger, share)
    return Block(rows, bounds, parta, parta_dx, demo, xwalk, truth)


# ---------------------------------------------------------------------------------- patients
@dataclass
class Patients:
    """The plan of one block's patients (arrays with one entry per patient)."""
    seq: np.ndarray  # global sequence numbers (MBIs derive from them)
    cohort: np.ndarray  # COHORT_NONE, COHORT_HF or COHORT_LBP
    pattern: np.ndarray  # index into PATTERNS; -1 outside the cohorts
    window: np.ndarray  # E2 confirming window: HF 180 days, LBP 60 days
    main: np.ndarray  # the main participant of a cohort patient; -1 otherwise
    pcp: np.ndarray  # the primary care participant
    pdx: np.ndarray  # the cohort diagnosis
    trigger: np.ndarray  # planned trigger date
    gap: np.ndarray  # days from the trigger to the confirming visit
    episode: np.ndarray  # a first episode is planted (EPISODE_PATTERNS)
    episode_end: np.ndarray  # last day of the first episode (trigger + 364, within the data)
    hf_group: np.ndarray  # participants of the HF specialty
    lbp_group: np.ndarray  # participants of the LBP specialties

    @property
    def n(self) -> int:
        return len(self.seq)


def _plan_patients(rng, wd: W.World, seq: np.ndarray) -> Patients:
    npat = len(seq)
    cohort = rng.choice(3, npat, p=COHORT_P)
    pattern = np.where(cohort > 0, rng.choice(len(PATTERNS), npat, p=PATTERN_P), -1)
    win = np.where(cohort == COHORT_HF, 180, 60)
    hf_group = wd.group(W.HF_SPEC)
    lbp_group = wd.group(W.LBP_SPECS)
    pcp_group = wd.group(W.PCP_SPECS)
    main = _main_participants(rng, wd, cohort, pattern, hf_group, lbp_group)
    # a pair within one TIN needs a sibling NPI; otherwise fall back to a plain pair
    no_sib = (pattern == DIFF_NPI_SAME_TIN) & (wd.p_sibling[np.maximum(main, 0)] < 0)
    pattern[no_sib] = PAIR_IN
    pcp = _pick_weighted(rng, pcp_group, wd.p_weight, npat)
    pdx = np.where(cohort == COHORT_HF, W.DX_HF[rng.integers(0, len(W.DX_HF), npat)],
                   W.DX_LBP[rng.integers(0, len(W.DX_LBP), npat)])
    T = np.where(rng.random(npat) < PY_TRIGGER_SHARE,
                 _uniform_days(rng, np.full(npat, day("2026-01-02")), day("2027-01-01")),
                 _uniform_days(rng, np.full(npat, day("2027-01-02")), day("2027-06-30")))
    T = np.where(pattern == CHAIN, _uniform_days(rng, np.full(npat, day("2025-01-20")), day("2025-12-31")), T)
    gap = _uniform_days(rng, np.ones(npat, np.int64), win)
    gap = np.where(pattern == PAIR_EDGE, win, gap)
    gap = np.where(pattern == PAIR_OUT, np.where(rng.random(npat) < .5, win + 1, win + 20), gap)
    epi = np.isin(pattern, list(EPISODE_PATTERNS))
    return Patients(seq=seq, cohort=cohort, pattern=pattern, window=win, main=main, pcp=pcp, pdx=pdx,
                    trigger=T, gap=gap, episode=epi, episode_end=np.minimum(T + 364, END),
                    hf_group=hf_group, lbp_group=lbp_group)


def _main_participants(rng, wd: W.World, cohort, pattern, hf_group, lbp_group) -> np.ndarray:
    """The main clinician of each cohort patient, in proportion to the planned episode volume
    (-1 outside the cohorts). Chains and prior single visits start in 2025: their main clinician
    bills from the start of the data (never a new clinician)."""
    main = np.full(len(cohort), -1)
    early = (pattern == CHAIN) | (pattern == PRIOR_SINGLE)
    for c, grp in ((COHORT_HF, hf_group), (COHORT_LBP, lbp_group)):
        for pick, weight in ((~early, wd.p_volume), (early, wd.p_volume * ~wd.p_new)):
            m = (cohort == c) & pick
            main[m] = _pick_weighted(rng, grp, weight, int(m.sum()))
    return main


# ---------------------------------------------------------------------------------- Part B claims
class ClaimLog:
    """The Part B claims planted for a block, one entry per claim: patient, service date,
    participant, place of service, kind, HCPCS of the first line, cohort of the diagnosis and how
    the cohort diagnosis is coded (dxmode: 0 first claim diagnosis, 1 a later one, 2 on the line)."""

    def __init__(self, rng, patients: Patients, wd: W.World):
        self.rng = rng
        self.pt = patients
        self.wd = wd
        self.acc = Acc()

    def add(self, **cols):
        self.acc.add(**cols)

    def visits(self, idx, dates, parts, pos=None, kind=COHORT_VISIT):
        """E&M visits of cohort patients idx (new, established or consult codes)."""
        if len(idx) == 0:
            return
        rng = self.rng
        n = len(idx)
        if pos is None:
            pos = W.POS_OFFICE[rng.choice(4, n, p=W.POS_OFFICE_P)]
        first = rng.random(n) < .5
        hcs = np.where(first, W.EM_NEW[rng.integers(0, 4, n)], W.EM_EST[rng.integers(0, 3, n)])
        hcs = np.where(rng.random(n) < .12, W.EM_CONSULT[rng.integers(0, 4, n)], hcs)
        dxm = rng.choice(3, n, p=[.7, .15, .15])
        self.add(pat=idx, date=dates, part=parts, pos=pos, kind=kind, hc=hcs, coh=self.pt.cohort[idx], dxmode=dxm)

    def claims(self) -> dict:
        """The claims inside the data period, by service date, then patient (claim ids increase
        with time). A background, service or DME claim dated before its clinician's first billing
        day goes to the clinician's cover (cohort visits and scenario lines are planned to fit)."""
        cl = self.acc.cat()
        keep = (cl["date"] >= START) & (cl["date"] <= END)
        cl = {k: v[keep] for k, v in cl.items()}
        early = (cl["date"] < self.wd.p_start[cl["part"]]) & (cl["kind"] != COHORT_VISIT) & (cl["kind"] != SCENARIO)
        cl["part"] = np.where(early, self.wd.p_cover[cl["part"]], cl["part"])
        order = np.lexsort((cl["pat"], cl["date"]))
        return {k: v[order] for k, v in cl.items()}


def _plant_claims(rng, wd: W.World, pt: Patients, bi: int) -> tuple[dict, np.ndarray, np.ndarray]:
    """Part B claims of the block; also the second trigger date of chains and the planned share
    of the main participant in the first episode."""
    log = ClaimLog(rng, pt, wd)
    if bi == 0:
        _g1_tie_lines(log, wd)
    _trigger_and_confirming_visits(log, wd)
    _prior_single_visits(log)
    second_trigger = _chain_second_pair(log)
    share = _episode_care_team(log, wd)
    _condition_services(log, wd, second_trigger)
    _background_visits(log, wd)
    _dme_claims(log)
    return log.claims(), second_trigger, share


def _tie_days(j: int, n: int) -> np.ndarray:
    """Service days of the n lines of G1 tie j: a month apart in 2025, distinct across ties."""
    return TIE_FIRST_DAY + j + 30 * np.arange(n)


def _tie_specialty_by_day(wd: W.World) -> dict[int, int]:
    return {int(d): s for j, tie in enumerate(wd.ties)
            for d, (s, _) in zip(_tie_days(j, len(tie.lines)), tie.lines)}


def _g1_tie_lines(log: ClaimLog, wd: W.World):
    """G1 ties: the reference-year (2025) lines of each tie NPI, one-line claims on the first patient
    outside the cohorts with the planted HCPCS (their specialty code: _claim_lines)."""
    pat = int(np.flatnonzero(log.pt.cohort == COHORT_NONE)[0])
    for j, tie in enumerate(wd.ties):
        n = len(tie.lines)
        log.add(pat=np.full(n, pat), date=_tie_days(j, n), part=tie.participant, pos=OFFICE, kind=SCENARIO,
                hc=np.array([h for _, h in tie.lines]), coh=0, dxmode=0)


def _trigger_and_confirming_visits(log: ClaimLog, wd: W.World):
    """The trigger (first) visit of every cohort patient and the second visit of all but singles."""
    pt, rng = log.pt, log.rng
    sel = np.flatnonzero(pt.cohort > 0)
    pattern = pt.pattern[sel]
    trig_pos = np.where(pattern == BAD_POS, W.POS.idx("21"), np.where(pattern == TELEHEALTH, W.POS.idx("22"), -1))
    p_norm = W.POS_OFFICE[rng.choice(4, len(sel), p=W.POS_OFFICE_P)]
    log.visits(sel, pt.trigger[sel], pt.main[sel], np.where(trig_pos >= 0, trig_pos, p_norm))
    s2 = sel[pattern != SINGLE]
    d2 = np.where(pt.pattern[s2] == SAME_DAY, pt.trigger[s2], pt.trigger[s2] + pt.gap[s2])
    part2 = np.where(pt.pattern[s2] == DIFF_NPI_SAME_TIN, wd.p_sibling[pt.main[s2]], pt.main[s2])
    pos2 = np.where(pt.pattern[s2] == TELEHEALTH, W.POS.idx("02"), OFFICE)
    log.visits(s2, d2, part2, pos2)


def _prior_single_visits(log: ClaimLog):
    """prior_single: one visit outside the window before the trigger."""
    pt = log.pt
    s = np.flatnonzero(pt.pattern == PRIOR_SINGLE)
    log.visits(s, pt.trigger[s] - pt.window[s] - log.rng.integers(1, 61, len(s)), pt.main[s])


def _chain_second_pair(log: ClaimLog) -> np.ndarray:
    """chain: a second pair after the first episode ends (trigger >= T + 365). Returns the second
    trigger date per patient (-1 if none)."""
    pt, rng = log.pt, log.rng
    s = np.flatnonzero(pt.pattern == CHAIN)
    t2 = pt.trigger[s] + 365 + rng.integers(0, 61, len(s))
    g2 = _uniform_days(rng, np.ones(len(s), np.int64), pt.window[s])
    log.visits(s, t2, pt.main[s])
    log.visits(s, t2 + g2, pt.main[s])
    second_trigger = np.full(pt.n, -1)
    second_trigger[s] = t2
    return second_trigger


def _episode_care_team(log: ClaimLog, wd: W.World) -> np.ndarray:
    """Visits inside the first episode after the confirming visit, by the main clinician and by
    other clinicians of the cohort. Returns the planned share of the main participant (NaN
    without an episode)."""
    pt = log.pt
    main_lines = np.where(pt.episode, 2, 0) + _follow_up_visits(log)
    n_other = np.where(pt.episode & (pt.pattern != SHARED) & (pt.pattern != CHAIN),
                       (log.rng.random(pt.n) < .3).astype(np.int64), 0)
    shared, extra_main, shared_other = _shared_episode_visits(log)
    main_lines[shared] += extra_main
    n_other[shared] = shared_other
    _other_clinician_visits(log, wd, n_other)
    return np.where(pt.episode, main_lines / np.maximum(main_lines + n_other, 1), np.nan)


def _after_confirming(log: ClaimLog, s: np.ndarray) -> np.ndarray:
    """A day after the confirming visit, within the first episode, for patients s."""
    pt = log.pt
    return _uniform_days(log.rng, pt.trigger[s] + pt.gap[s] + 1, pt.episode_end[s])


def _follow_up_visits(log: ClaimLog) -> np.ndarray:
    """Follow-ups by the main clinician; returns their number per patient."""
    pt = log.pt
    fu_ok = (pt.episode & (pt.pattern != CHAIN) & (pt.pattern != SHARED)
             & (pt.trigger + pt.gap + 1 <= pt.episode_end))
    nfu = np.where(fu_ok, log.rng.poisson(1.2, pt.n), 0)
    s = np.repeat(np.arange(pt.n), nfu)
    log.visits(s, _after_confirming(log, s), pt.main[s])
    return nfu


def _shared_episode_visits(log: ClaimLog) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """shared: the main clinician's share near 30% (SHARED_COMBOS). Returns the shared patients,
    their extra main visits and their number of other clinicians' visits."""
    pt = log.pt
    sh = np.flatnonzero(pt.pattern == SHARED)
    combo = SHARED_COMBOS[log.rng.integers(0, len(SHARED_COMBOS), len(sh))]
    ok = pt.trigger[sh] + pt.gap[sh] + 1 <= pt.episode_end[sh]
    extra_main = np.where(ok, combo[:, 0] - 2, 0)
    s = np.repeat(sh, extra_main)
    log.visits(s, _after_confirming(log, s), pt.main[s])
    return sh, extra_main, combo[:, 1]


def _other_clinician_visits(log: ClaimLog, wd: W.World, n_other: np.ndarray):
    """n_other visits per patient by other clinicians of the same cohort, inside the first episode
    (never the main participant itself)."""
    pt, rng = log.pt, log.rng
    s = np.repeat(np.arange(pt.n), n_other)
    hf = pt.cohort[s] == COHORT_HF
    grp_pick_hf = _pick_weighted(rng, pt.hf_group, wd.p_weight, len(s))
    grp_pick_lbp = _pick_weighted(rng, pt.lbp_group, wd.p_weight, len(s))
    oth = np.where(hf, grp_pick_hf, grp_pick_lbp)
    oth = np.where(oth == pt.main[s], wd.p_sibling[oth], oth)
    oth = np.where(oth < 0, np.where(hf, pt.hf_group[0], pt.lbp_group[0]), oth)
    oth = np.where(oth == pt.main[s], np.where(hf, pt.hf_group[-1], pt.lbp_group[-1]), oth)
    log.visits(s, _uniform_days(rng, pt.trigger[s] + 1, pt.episode_end[s]), oth)


def _condition_services(log: ClaimLog, wd: W.World, second_trigger: np.ndarray):
    """Condition-related services inside every planted episode (imaging, therapy, chiropractic and
    surgery for LBP are often billed by their own specialty)."""
    pt, rng = log.pt, log.rng
    pat, start, end = _episode_windows(pt, second_trigger)
    mean = np.where(pt.cohort[pat] == COHORT_HF, C.SERVICES_PER_EPISODE["HF"], C.SERVICES_PER_EPISODE["LBP"])
    mean = mean * wd.p_cost_level[pt.main[pat]]
    ep = np.repeat(np.arange(len(pat)), rng.poisson(mean))
    s = pat[ep]
    if not len(s):
        return
    hcs = np.where(pt.cohort[s] == COHORT_HF, W.HF_SVC[rng.choice(len(W.HF_SVC), len(s), p=W.HF_SVC_P)],
                   W.LBP_SVC[rng.choice(len(W.LBP_SVC), len(s), p=W.LBP_SVC_P)])
    billed = pt.main[s].copy()
    for codes, spec in ((W.hc("72148", "72100"), "30"), (W.hc("97110", "97140"), "65"), (W.hc("98940"), "35")):
        grp = wd.group([spec])
        m = np.isin(hcs, codes) & (rng.random(len(s)) < .7)
        if len(grp) and m.any():
            billed[m] = _pick_weighted(rng, grp, wd.p_weight, int(m.sum()))
    pos = np.where(np.isin(hcs, W.hc("63030", "22612")), W.POS.idx("22"), OFFICE)
    log.add(pat=s, date=_uniform_days(rng, start[ep], end[ep]), part=billed, pos=pos,
            kind=CONDITION_SERVICE, hc=hcs, coh=pt.cohort[s], dxmode=0)


def _background_visits(log: ClaimLog, wd: W.World):
    """Visits with non-cohort diagnoses over the whole period, including one PCP visit in the 365
    days before the trigger of every planted episode."""
    pt, rng = log.pt, log.rng
    lam = rng.gamma(2.0, BG_LAMBDA / 2, pt.n)
    s = np.repeat(np.arange(pt.n), rng.poisson(lam))
    n = len(s)
    part = np.where(rng.random(n) < .55, pt.pcp[s],
                    _pick_weighted(rng, np.arange(len(wd.p_tin)), wd.p_weight, n))
    sp = np.array(wd.SPEC.values)[wd.p_spec[part]]
    dates = _uniform_days(rng, np.full(n, START), END)
    s2 = np.flatnonzero(pt.episode)
    s = np.concatenate([s, s2])
    part = np.concatenate([part, pt.pcp[s2]])
    sp = np.concatenate([sp, np.full(len(s2), W.PCP_SPECS[0])])
    dates = np.concatenate([dates, pt.trigger[s2] - rng.integers(20, 330, len(s2))])
    hcs, pos, kind = _background_codes(rng, sp)
    log.add(pat=s, date=dates, part=part, pos=pos, kind=kind, hc=hcs, coh=0, dxmode=0)


def _background_codes(rng, sp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """HCPCS, place of service and kind of background claims billed by specialties sp: E&M for
    most, radiology, therapy, chiropractic and emergency codes for those specialties."""
    n = len(sp)
    hcs = np.where(rng.random(n) < .3, W.EM_EST[rng.integers(0, 5, n)], W.EM_EST[rng.integers(0, 3, n)])
    hcs = np.where(rng.random(n) < .1, W.EM_NEW[rng.integers(0, 4, n)], hcs)
    hcs = np.where(rng.random(n) < .03, W.hc("G0439")[0], hcs)
    kind = np.full(n, BACKGROUND_VISIT, np.int64)
    pos = W.POS_OFFICE[rng.choice(4, n, p=W.POS_OFFICE_P)]
    pos = np.where((rng.random(n) < .02) & ~np.isin(sp, W.PCP_SPECS), W.POS.idx("21"), pos)
    m = sp == "30"
    hcs[m] = W.RADIOLOGY[rng.integers(0, len(W.RADIOLOGY), m.sum())]
    pos[m] = np.where(rng.random(m.sum()) < .6, W.POS.idx("22"), OFFICE)
    m2 = sp == "65"
    hcs[m2] = W.PT_CODES[rng.integers(0, len(W.PT_CODES), m2.sum())]
    m3 = sp == "35"
    hcs[m3] = W.hc("98940")[0]
    m4 = sp == "93"
    hcs[m4] = W.ED[rng.integers(0, len(W.ED), m4.sum())]
    pos[m4] = W.POS.idx("23")
    kind[m | m2 | m3 | m4] = SPECIALTY_SERVICE
    return hcs, pos, kind


def _dme_claims(log: ClaimLog):
    """A few DME claims (claim type 72)."""
    pt, rng = log.pt, log.rng
    s = np.flatnonzero(rng.random(pt.n) < .02)
    log.add(pat=s, date=_uniform_days(rng, np.full(len(s), START), END), part=pt.pcp[s], pos=W.POS.idx("12"),
            kind=DME_CLAIM, hc=W.DME[rng.integers(0, len(W.DME), len(s))], coh=0, dxmode=0)


# ---------------------------------------------------------------------------------- id changes (N1 / CCLF9)
@dataclass
class IdChanges:
    """Beneficiary ids: some patients change MBI once (c0 -> c1 on d1), a few twice (-> c2 on d2)."""
    change: np.ndarray  # bool per patient
    chain: np.ndarray  # bool: a second change
    d1: np.ndarray  # day of the first change (BIG if none)
    d2: np.ndarray  # day of the second change (BIG if none)
    c0: np.ndarray
    c1: np.ndarray
    c2: np.ndarray
    current: np.ndarray  # the MBI code in use at the end

    def mbi_at(self, p, d):
        """MBI code of patients p on days d."""
        return np.where(d < self.d1[p], self.c0[p], np.where(d < self.d2[p], self.c1[p], self.c2[p]))


def _id_changes(rng, wd: W.World, bi: int, seq: np.ndarray) -> IdChanges:
    npat = len(seq)
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
    return IdChanges(change, chain, d1, d2, c0, c1, c2, current)


# ---------------------------------------------------------------------------------- claim attributes
@dataclass
class ClaimCoding:
    """Per claim: number of lines, diagnoses, claim type and referring NPI."""
    nlines: np.ndarray
    dx: np.ndarray  # (claims, MAX_CLAIM_DX) uint8 indices into W.DX; 0 ('~') past the last diagnosis
    cohort_dx: np.ndarray  # the patient's cohort diagnosis
    is_cohort: np.ndarray  # the claim carries the cohort diagnosis
    line1_dx: np.ndarray  # diagnosis of the first line
    ctype: np.ndarray  # 71 (or 72 for DME)
    rfrg: np.ndarray  # referring NPI index (len(npis) = blank)


def _code_claims(rng, wd: W.World, cl: dict, pt: Patients) -> ClaimCoding:
    nc = len(cl["pat"])
    ntail = np.select([cl["kind"] == BACKGROUND_VISIT, cl["kind"] == COHORT_VISIT, cl["kind"] == SPECIALTY_SERVICE,
                       cl["kind"] == CONDITION_SERVICE],
                      [rng.choice(4, nc, p=[.42, .26, .18, .14]), (rng.random(nc) < .35).astype(np.int64),
                       (rng.random(nc) < .2).astype(np.int64),
                       (rng.random(nc) < CONDITION_SERVICE_TAIL).astype(np.int64)],
                      0)
    ndx = 1 + rng.choice(MAX_CLAIM_DX, nc, p=[.25, .25, .2, .15, .1, .05])
    ndx = np.where(cl["dxmode"] == 1, np.maximum(ndx, 2), ndx)
    dx = _DX_BG_TABLE256[rng.integers(0, 256, (nc, MAX_CLAIM_DX), dtype=np.uint8)]
    dx *= np.arange(MAX_CLAIM_DX)[None, :] < ndx[:, None]
    cdx = pt.pdx[cl["pat"]]
    is_coh = cl["coh"] > 0
    both = is_coh & (cl["dxmode"] == 0)
    dx[both, 0] = cdx[both]
    hdr = np.flatnonzero(is_coh & (cl["dxmode"] == 1))
    dx[hdr, 1 + (rng.random(len(hdr)) * (ndx[hdr] - 1)).astype(np.int64)] = cdx[hdr]
    line_dx1 = np.where(is_coh & (cl["dxmode"] == 2), cdx, dx[:, 0])
    ctype = np.where(cl["kind"] == DME_CLAIM, 72, 71)
    rfrg = np.where(np.isin(wd.p_spec[cl["part"]], wd.SPEC.indices(W.PCP_SPECS)) | (rng.random(nc) < .3),
                    len(wd.npis), wd.p_npi[pt.pcp[cl["pat"]]])
    return ClaimCoding(nlines=1 + ntail, dx=dx, cohort_dx=cdx, is_cohort=is_coh, line1_dx=line_dx1, ctype=ctype,
                       rfrg=rfrg)


@dataclass
class ClaimNoise:
    """Per claim: what happens to it across deliveries."""
    protected: np.ndarray  # cohort E&M claims (qualifying lines for E1) and scenario lines: never destructive noise
    file0: np.ndarray  # delivery file of the original
    denied: np.ndarray
    redeliver: np.ndarray  # delivered again in the next file
    cancel: np.ndarray  # cancelled in file fc
    reissue: np.ndarray  # re-issued as an adjustment in file fa
    fc: np.ndarray
    fa: np.ndarray
    efct0: np.ndarray  # effective dates of the original, the cancel and the adjustment
    efct_c: np.ndarray
    efct_a: np.ndarray


def _delivery_noise(rng, cl: dict) -> ClaimNoise:
    nc = len(cl["pat"])
    scenario = cl["kind"] == SCENARIO
    protected = (cl["kind"] == COHORT_VISIT) | scenario
    file0 = month_of(cl["date"])
    denied = ~protected & (rng.random(nc) < .015)
    can_follow = file0 < N_MONTHS - 1
    redeliver = can_follow & (rng.random(nc) < .01)
    cancel = can_follow & ~denied & ~scenario & np.where(protected, rng.random(nc) < .005, rng.random(nc) < .015)
    reissue = cancel & (protected | (rng.random(nc) < .5))
    fc = np.minimum(file0 + rng.integers(1, 4, nc), N_MONTHS - 1)
    fa = np.minimum(fc + rng.integers(0, 3, nc), N_MONTHS - 1)
    efct0 = np.minimum(cl["date"] + rng.integers(3, 15, nc), DELIVERY[file0] - 1)
    efct_c = DELIVERY[fc] - rng.integers(10, 16, nc)
    efct_a = DELIVERY[fa] - rng.integers(1, 6, nc)
    return ClaimNoise(protected=protected, file0=file0, denied=denied, redeliver=redeliver, cancel=cancel,
                      reissue=reissue, fc=fc, fa=fa, efct0=efct0, efct_c=efct_c, efct_a=efct_a)


@dataclass
class ClaimIds:
    """Per claim: claim id of the original, of its cancel and of its adjustment; control number."""
    cid0: np.ndarray
    cid_c: np.ndarray
    cid_a: np.ndarray
    cntl: np.ndarray


def _claim_ids(ctr: Counters, noise: ClaimNoise) -> ClaimIds:
    """Consecutive ids from `ctr` (advanced past them): originals, then cancels, then adjustments."""
    nc = len(noise.cancel)
    cid0 = ctr.claim_id + np.arange(nc, dtype=np.int64)
    cntl = ctr.cntl + np.arange(nc, dtype=np.int64)
    ctr.claim_id += nc
    ncx = int(noise.cancel.sum())
    cid_c = np.zeros(nc, np.int64)
    cid_c[noise.cancel] = ctr.claim_id + np.arange(ncx)
    ctr.claim_id += ncx
    nre = int(noise.reissue.sum())
    cid_a = np.zeros(nc, np.int64)
    cid_a[noise.reissue] = ctr.claim_id + np.arange(nre)
    ctr.claim_id += nre
    ctr.cntl += nc
    return ClaimIds(cid0=cid0, cid_c=cid_c, cid_a=cid_a, cntl=cntl)


# ---------------------------------------------------------------------------------- lines
@dataclass
class Lines:
    """Claim lines (one entry per line of the original claim)."""
    claim: np.ndarray  # index of the claim
    lnum: np.ndarray  # 1-based line number
    kind: np.ndarray
    hc: np.ndarray
    units: np.ndarray
    allowed: np.ndarray  # cents
    paid: np.ndarray  # cents
    denied: np.ndarray
    dx: np.ndarray
    part: np.ndarray
    spec: np.ndarray
    betos: np.ndarray
    prcsg: np.ndarray  # 0 A, 1 R, 2 N


def _claim_lines(rng, wd: W.World, cl: dict, coding: ClaimCoding, noise: ClaimNoise) -> Lines:
    nlines = coding.nlines
    nc = len(nlines)
    L = int(nlines.sum())
    lc = np.repeat(np.arange(nc), nlines)
    starts = np.cumsum(nlines) - nlines
    lnum = np.arange(L) - np.repeat(starts, nlines) + 1
    k = cl["kind"][lc]
    hcl = np.where(lnum == 1, cl["hc"][lc], W.LABS[rng.integers(0, len(W.LABS), L)])
    m = (lnum > 1) & ((k == SPECIALTY_SERVICE) | (k == CONDITION_SERVICE))
    hcl[m] = cl["hc"][lc][m]  # e.g. a second therapy line / second ED line / a repeated service
    units = np.where(np.isin(hcl, W.THERAPY_MULTI), rng.integers(1, 5, L), 1)
    allowed, paid = _line_amounts(rng, hcl, units)
    den_l = noise.denied[lc]
    allowed[den_l] = 0
    paid[den_l] = 0
    line_dx = np.where(lnum == 1, coding.line1_dx[lc], coding.dx[lc, 0])
    line_dx = np.where((lnum > 1) & coding.is_cohort[lc] & (cl["dxmode"][lc] == 2), coding.cohort_dx[lc], line_dx)
    p_l = cl["part"][lc]
    spec_l = wd.p_spec[p_l]
    alt = wd.p_spec2[p_l]
    use2 = (alt >= 0) & (rng.random(L) < .2)
    spec_l = np.where(use2, alt, spec_l)
    scen = np.flatnonzero(k == SCENARIO)
    if len(scen):  # the G1 tie lines carry the specialty code the tie planted
        by_day = _tie_specialty_by_day(wd)
        spec_l[scen] = [by_day[int(d)] for d in cl["date"][lc[scen]]]
    betos = np.where(rng.random(L) < .08, 0, W.HC_BETOS[hcl])
    prcsg = np.zeros(L, np.int64)
    nona_ok = ~noise.protected[lc] & ~den_l & ~noise.cancel[lc]
    nona = nona_ok & (rng.random(L) < .01)
    prcsg[nona] = np.where(rng.random(int(nona.sum())) < .5, 1, 2)  # R / N
    return Lines(claim=lc, lnum=lnum, kind=k, hc=hcl, units=units, allowed=allowed, paid=paid, denied=den_l,
                 dx=line_dx, part=p_l, spec=spec_l, betos=betos, prcsg=prcsg)


def _line_amounts(rng, hcl: np.ndarray, units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Allowed and paid amounts in cents (lognormal per HCPCS, times units)."""
    z = rng.standard_normal(len(hcl), dtype=np.float32)
    allowed = np.round(np.exp(_HC_MU32[hcl] + _HC_SIGMA32[hcl] * z) * (units * 100).astype(np.float32)).astype(np.int64)
    allowed = np.maximum(allowed, 1)
    paid = np.round(allowed * rng.uniform(.78, .8, len(hcl))).astype(np.int64)
    return allowed, paid


# ---------------------------------------------------------------------------------- versions (rows)
def _version_rows(rng, cl: dict, coding: ClaimCoding, noise: ClaimNoise, ids: ClaimIds, lines: Lines,
                  idc: IdChanges) -> dict:
    """One row per line version: originals, redelivered copies, cancels, re-issued adjustments;
    each segment's delivery file is known before the (stable, radix) sort by file."""
    lc = lines.claim
    rd = np.flatnonzero(noise.redeliver[lc])
    cx = np.flatnonzero(noise.cancel[lc])
    ad = np.flatnonzero(noise.reissue[lc])
    src = np.concatenate([np.arange(len(lc)), rd, cx, ad])
    seg = np.cumsum([0, len(lc), len(rd), len(cx), len(ad)])
    vkind = np.repeat(np.arange(4, dtype=np.int8), np.diff(seg))
    file0_8 = noise.file0.astype(np.int8)
    rfile = np.concatenate([file0_8[lc], file0_8[lc[rd]] + 1, noise.fc.astype(np.int8)[lc[cx]],
                            noise.fa.astype(np.int8)[lc[ad]]])
    order = np.argsort(rfile, kind="stable")  # int8 keys: radix sort
    src, vkind, rfile = src[order], vkind[order], rfile[order]
    c = lc[src]
    rcid = np.concatenate([ids.cid0[lc], ids.cid0[lc[rd]], ids.cid_c[lc[cx]], ids.cid_a[lc[ad]]])[order]
    radj = np.array([0, 0, 1, 2], np.int8)[vkind]  # original / redelivered 0, cancel 1, adjustment 2
    refct = np.concatenate([noise.efct0[lc], noise.efct0[lc[rd]], noise.efct_c[lc[cx]],
                            noise.efct_a[lc[ad]]]).astype(np.int32)[order]
    rallow = lines.allowed[src]
    rpaid = lines.paid[src]
    adj_rows = np.flatnonzero(vkind == 3)
    factor = rng.uniform(.85, 1.15, len(adj_rows))
    rallow[adj_rows] = np.round(rallow[adj_rows] * factor).astype(np.int64)
    rpaid[adj_rows] = np.round(rpaid[adj_rows] * factor).astype(np.int64)
    rdate = cl["date"].astype(np.int32)[c]
    cancel_c = noise.cancel[c]
    # final action for RIF: the surviving version of each line is 'F'
    superseded = (vkind == 2) | ((vkind <= 1) & cancel_c)
    rows = dict(file=rfile, cid=rcid, lnum=lines.lnum.astype(np.int8)[src], mbi=idc.mbi_at(cl["pat"][c], rdate),
                ctype=coding.ctype.astype(np.int16)[c], date=rdate, spec=lines.spec.astype(np.int32)[src],
                hc=lines.hc.astype(np.int32)[src], pos=cl["pos"].astype(np.int32)[c], paid=rpaid, allowed=rallow,
                ldx=lines.dx.astype(np.int32)[src], part=lines.part[src], dnl=lines.denied[src].astype(np.int8),
                prcsg=lines.prcsg.astype(np.int8)[src], adj=radj, efct=refct, cntl=ids.cntl[c],
                units=lines.units.astype(np.int8)[src], betos=lines.betos.astype(np.int32)[src],
                rfrg=coding.rfrg.astype(np.int32)[c], vkind=vkind, final=(~superseded).astype(np.int8),
                kind=lines.kind.astype(np.int8)[src], protected=noise.protected[c], claimcancel=cancel_c,
                claimrd=noise.redeliver[c])
    rows["dx"] = coding.dx[c]
    return rows


def _plant_malformed(rng, rows: dict, bi: int, lines_hint: int) -> np.ndarray:
    """Mark malformed rows (rows["mal"]: 1 + index into MALFORMED_KINDS, 0 for sound rows), with
    the bytes to cut (rows["trunc"]) and the line thru date (rows["thru"]). Returns the file
    bounds of the rows."""
    bounds = np.searchsorted(rows["file"], np.arange(N_MONTHS + 1, dtype=rows["file"].dtype))
    nrows = len(rows["file"])
    cap = np.floor(np.diff(bounds) * 0.005).astype(np.int64)
    n_kind = max(3 if bi == 0 else 0, int(round(lines_hint * MALFORMED_RATE)))
    chosen = _pick_malformed(rng, rows, cap, n_kind * len(MALFORMED_KINDS))
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
    return bounds


# ---------------------------------------------------------------------------------- Part A (CCLF1 + CCLF4)
def _parta_claims(rng, wd: W.World, pt: Patients, second_trigger: np.ndarray, idc: IdChanges,
                  ctr: Counters) -> tuple[dict, dict]:
    """Part A claim headers, grouped by delivery file, with their ids (from `ctr`, advanced past
    them), and their diagnoses."""
    stays = Acc()
    pat, start, end = _episode_windows(pt, second_trigger)
    hf = pt.cohort[pat] == COHORT_HF
    level = wd.p_cost_level[pt.main[pat]]
    _hf_stays(stays, rng, wd, pt, pat[hf], start[hf], end[hf], level[hf])
    _lbp_stays(stays, rng, pt, pat[~hf], start[~hf], end[~hf], level[~hf])
    _other_stays(stays, rng, pt)
    pa = stays.cat()
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
    pa["mbi"] = idc.mbi_at(pa["pat"], pa["frm"])
    pa["file"] = month_of(pa["thru"])
    pa["efct"] = np.minimum(pa["thru"] + rng.integers(5, 20, na), DELIVERY[pa["file"]] - 1)
    pa["fac"] = rng.integers(0, 5, na)
    pa["atnd"] = np.where(pa["ctype"] == 60, wd.p_npi[np.where(pt.main[pa["pat"]] >= 0, pt.main[pa["pat"]],
                                                                pt.pcp[pa["pat"]])], len(wd.npis))
    return pa, _parta_diagnoses(rng, pa)


def _episode_windows(pt: Patients, second_trigger: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Patient, first and last day of every planted episode: the first one and a chain's second."""
    first = np.flatnonzero(pt.episode)
    second = np.flatnonzero(second_trigger >= 0)
    return (np.r_[first, second], np.r_[pt.trigger[first], second_trigger[second]],
            np.r_[pt.episode_end[first], np.minimum(second_trigger[second] + 364, END)])


def _admission_days(rng, start: np.ndarray, end: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """k admission days per episode, one in each of k equal parts of [start + 5, end - 15] (so
    stays of up to 10 days do not overlap). Returns the episode of each admission and its day."""
    ep = np.repeat(np.arange(len(k)), k)
    j = np.arange(len(ep)) - np.repeat(np.cumsum(k) - k, k)
    seg = np.maximum((end[ep] - start[ep] - 20) // np.maximum(k[ep], 1), 1)
    return ep, start[ep] + 5 + j * seg + (rng.random(len(ep)) * np.maximum(seg - 12, 1)).astype(np.int64)


def _hf_stays(stays: Acc, rng, wd: W.World, pt: Patients, pat, start, end, level):
    """HF admissions (Q6: _hf_admission_counts), their payments scaled by the main clinician's cost
    level, and a few elective device implant stays inside the episodes (admission type 3: not Q492
    admissions); post-acute care after some HF admissions."""
    k = _hf_admission_counts(rng, wd, pt, pat, start, end)
    _admissions(stays, rng, pt, pat, start, end, k, (2, 10), (C.HF_DRG, C.HF_DRG_P, C.HF_DRG_PAYMENT),
                C.POST_ACUTE_P["HF"], intensity=level)
    dev = np.flatnonzero(rng.random(len(pat)) < C.HF_DEVICE_ADMISSION_P)
    dadm = _uniform_days(rng, start[dev] + 30, np.maximum(end[dev] - 10, start[dev] + 30))
    stays.add(pat=pat[dev], frm=dadm, thru=dadm + rng.integers(1, 4, len(dev)), ctype=60, pdx=pt.pdx[pat[dev]],
              drg=C.HF_DEVICE_DRG, amt=C.payment_cents(rng, np.full(len(dev), C.HF_DEVICE_PAYMENT)), elective=True)


def _hf_admission_counts(rng, wd: W.World, pt: Patients, pat, start, end) -> np.ndarray:
    """Q6: unplanned HF admissions per episode. Each episode expects its main clinician's planned rate
    (wd.p_admission_rate, per 100 person-years) x its person-years (days / 365.25). The counts are
    allocated systematically over a clinician's episodes of the block that close in the same year
    (the PY they are scored in): in random order, with c the running sum of expected admissions and
    a random offset u, an episode gets floor(c + u) - floor(c_before + u). A clinician's count then
    stays within one admission of its plan, so its Q492 rate lands near its quantile of CMS's curve
    (Poisson counts over ~25 episodes would spread the rates several times wider than CMS's)."""
    n = len(pat)
    if n == 0:
        return np.zeros(0, np.int64)
    main = pt.main[pat]
    expected = wd.p_admission_rate[main] / 100.0 * (end - start + 1) / 365.25
    closes = (start + 364).astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64)
    group = main.astype(np.int64) * 4096 + (closes - closes.min())
    order = np.lexsort((rng.random(n), group))
    g, e = group[order], expected[order]
    first = np.r_[True, g[1:] != g[:-1]]
    gid = np.cumsum(first) - 1
    running = np.cumsum(e)
    running -= (running - e)[first][gid]  # running sum within the group
    offset = rng.random(int(gid[-1]) + 1)[gid]
    k = np.empty(n, np.int64)
    k[order] = (np.floor(running + offset) - np.floor(running - e + offset)).astype(np.int64)
    return k


def _admissions(stays: Acc, rng, pt: Patients, pat, start, end, k, los: tuple[int, int], drg: tuple, post_share,
                intensity=None):
    """k inpatient admissions per episode, length of stay in [los), MS-DRG drawn from drg =
    (codes, probabilities, mean payments); post-acute care after a share of the discharges.
    `intensity` (per episode, default 1) scales the mean payments of the stays and their post-acute care."""
    codes, p, payment = drg
    ep, adm = _admission_days(rng, start, end, k)
    scale = np.ones(len(ep)) if intensity is None else np.asarray(intensity, float)[ep]
    discharge = adm + rng.integers(*los, len(ep))
    d = rng.choice(len(codes), len(ep), p=p)
    stays.add(pat=pat[ep], frm=adm, thru=discharge, ctype=60, pdx=pt.pdx[pat[ep]], drg=codes[d],
              amt=C.payment_cents(rng, payment[d] * scale), elective=False)
    _post_acute(stays, rng, pt, pat[ep], discharge, post_share, scale)


def _post_acute(stays: Acc, rng, pt: Patients, pat, discharge, share: float, scale: np.ndarray):
    """SNF, home health or swing-bed stays after a share of the discharges, most starting within 30
    days (C1 assigns those), the rest 31-45 days later; mean payments x scale (per discharge)."""
    post = np.flatnonzero(rng.random(len(pat)) < share)
    ph = pat[post]
    pst = discharge[post] + np.where(rng.random(len(ph)) < C.POST_ACUTE_WITHIN_30_DAYS, rng.integers(0, 31, len(ph)),
                                     rng.integers(31, 46, len(ph)))
    kind = rng.choice(len(C.POST_ACUTE_TYPES), len(ph), p=C.POST_ACUTE_TYPE_P)
    ptype = C.POST_ACUTE_TYPES[kind]
    plos = np.where(ptype == 10, rng.integers(30, 61, len(ph)), rng.integers(10, 31, len(ph)))
    stays.add(pat=ph, frm=pst, thru=pst + plos, ctype=ptype, pdx=pt.pdx[ph], drg=0,
              amt=C.payment_cents(rng, C.POST_ACUTE_PAYMENT[kind] * scale[post]), elective=False)


def _lbp_stays(stays: Acc, rng, pt: Patients, pat, start, end, level):
    """LBP admissions (spine fusion or a medical back admission) inside some episodes."""
    k = (rng.random(len(pat)) < C.LBP_ADMISSION_P * level).astype(np.int64)
    _admissions(stays, rng, pt, pat, start, end, k, (1, 5), (C.LBP_DRG, C.LBP_DRG_P, C.LBP_DRG_PAYMENT),
                C.POST_ACUTE_P["LBP"])


def _other_stays(stays: Acc, rng, pt: Patients):
    """Admissions for other conditions, of any patient at any time."""
    ot = np.flatnonzero(rng.random(pt.n) < .02)
    adm = _uniform_days(rng, np.full(len(ot), START), END - 10)
    stays.add(pat=ot, frm=adm, thru=adm + rng.integers(1, 8, len(ot)), ctype=60,
              pdx=W.DX_BG[rng.integers(0, len(W.DX_BG), len(ot))],
              drg=np.array([470, 193, 392, 871])[rng.integers(0, 4, len(ot))],
              amt=np.round(rng.lognormal(np.log(14000) - .125, .5, len(ot)) * 100).astype(np.int64), elective=False)


def _parta_diagnoses(rng, pa: dict) -> dict:
    """2 to 5 diagnoses per Part A claim, the principal one first."""
    na = len(pa["pat"])
    ndxa = 1 + rng.integers(1, 5, na)
    dl = np.repeat(np.arange(na), ndxa)
    sq = np.arange(len(dl)) - np.repeat(np.cumsum(ndxa) - ndxa, ndxa) + 1
    dxa = np.where(sq == 1, pa["pdx"][dl], W.DX_BG[rng.integers(0, len(W.DX_BG), len(dl))])
    return dict(claim=dl, seq=sq, dx=dxa)


# ---------------------------------------------------------------------------------- demographics (CCLF8)
def _demographics(rng, pt: Patients, cl: dict, pa: dict, idc: IdChanges) -> tuple[dict, np.ndarray]:
    """CCLF8 rows (some beneficiaries absent: `absent`); also which patients are under 18."""
    npat = pt.n
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
    demo = dict(mbi=idc.current, dob=dob, sex=rng.integers(1, 3, npat), stus=stus, entl=entl, dual=dual,
                death=death, absent=absent)
    return demo, grp == 0


# ---------------------------------------------------------------------------------- id cross-walk rows
def _crosswalk_rows(rng, wd: W.World, bi: int, idc: IdChanges) -> dict:
    """CCLF9 rows of the id changes; block 0 also plants a self-mapping and a two-cycle."""
    xw = Acc()
    ch = np.flatnonzero(idc.change)
    xw.add(crnt=idc.c1[ch], prvs=idc.c0[ch],
           efct=_uniform_days(rng, np.full(len(ch), day("2016-01-01")), day("2020-12-31")), obslt=idc.d1[ch] - 1)
    cc = np.flatnonzero(idc.chain)
    xw.add(crnt=idc.c2[cc], prvs=idc.c1[cc], efct=idc.d1[cc], obslt=idc.d2[cc] - 1)
    if bi == 0:
        selfp = np.flatnonzero(~idc.change)[:1]
        xw.add(crnt=idc.c0[selfp], prvs=idc.c0[selfp], efct=day("2020-01-01"), obslt=day("9999-12-31"))
        cyc = wd.mbi.codes(np.array([1 << 36, (1 << 36) + 1]))
        xw.add(crnt=cyc, prvs=cyc[::-1], efct=day("2019-01-01"), obslt=day("2024-12-31"))
    return xw.cat()


# ---------------------------------------------------------------------------------- truth
def _truth(wd: W.World, pt: Patients, cl: dict, idc: IdChanges, demo: dict, under18: np.ndarray,
           second_trigger: np.ndarray, share: np.ndarray) -> dict:
    """What was planted, per patient (the columns of _truth/patients.parquet)."""
    T, epi, pattern = pt.trigger, pt.episode, pt.pattern
    tin_scope = epi | (pattern == DIFF_NPI_SAME_TIN)
    has_claims = np.zeros(pt.n, bool)
    has_claims[cl["pat"]] = True
    return dict(
        current=idc.current, cohort=pt.cohort, pattern=pattern, epi=epi,
        trigger=np.where(epi, T, -1), confirm=np.where(epi, T + pt.gap, -1),
        tin_trigger=np.where(tin_scope, T, -1),
        tin_confirm=np.where(tin_scope, _tin_scope_confirming_date(wd, pt, cl), -1),
        second_trigger=second_trigger, main=pt.main, share=share, pcp=pt.pcp, death=demo["death"],
        dob=demo["dob"], absent=demo["absent"], under18=under18,
        change=idc.change.astype(np.int8) + idc.chain.astype(np.int8),
        has_claims=has_claims, first_visit=np.where(pt.cohort > 0, np.where(pattern == PRIOR_SINGLE, T - 1, T), -1),
    )


def _tin_scope_confirming_date(wd: W.World, pt: Patients, cl: dict) -> np.ndarray:
    """TIN-scope confirming date (pair_scope = tin): earliest qualifying visit of the main TIN in
    (T, T + window]; the main NPI's own confirming visit bounds it."""
    T, main = pt.trigger, pt.main
    tin_scope = pt.episode | (pt.pattern == DIFF_NPI_SAME_TIN)
    tin_confirm = np.where(tin_scope, T + pt.gap, BIG)
    q = (cl["kind"] == COHORT_VISIT) & (cl["pos"] != W.POS.idx("21"))
    qp = cl["pat"][q]
    qd = cl["date"][q]
    same_tin = (main[qp] >= 0) & (wd.p_tin[cl["part"][q]] == wd.p_tin[np.maximum(main[qp], 0)])
    inwin = same_tin & (qd > T[qp]) & (qd <= T[qp] + pt.window[qp]) & tin_scope[qp]
    np.minimum.at(tin_confirm, qp[inwin], qd[inwin])
    return tin_confirm
