"""The fixed part of the synthetic world: practices (TINs), clinicians (NPIs), participants
(TIN/NPI), code tables and id encoders.  Everything derives from the seed."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import qpp
from .reference import CBSAS, MULTI_CBSA_ZIPS, PRACTICE_ZIPS, UNMAPPED_ZIP, cbsa_of_zip
from .render import Vocab, day

HF_SPEC = ["06"]
LBP_SPECS = ["05", "09", "14", "20", "25", "72"]
PCP_SPECS = ["01", "08", "11", "38"]
OTHER_SPECS = ["30", "65", "93", "35"]  # radiology, physical therapy, emergency medicine, chiropractic
SPECS = HF_SPEC + LBP_SPECS + PCP_SPECS + OTHER_SPECS

# ---------------------------------------------------------------------------------------------
# HCPCS: code, BETOS, CLM_FED_TYPE_SRVC_CD, mean allowed $, lognormal sigma
HCPCS_TABLE = [
    ("99202", "M1B", "1", 75, .2), ("99203", "M1B", "1", 112, .2), ("99204", "M1B", "1", 168, .2),
    ("99205", "M1B", "1", 212, .2), ("99211", "M1B", "1", 25, .2), ("99212", "M1B", "1", 57, .2),
    ("99213", "M1B", "1", 92, .2), ("99214", "M1B", "1", 131, .2), ("99215", "M1B", "1", 183, .2),
    ("99242", "M6", "1", 98, .2), ("99243", "M6", "1", 136, .2), ("99244", "M6", "1", 192, .2),
    ("99245", "M6", "1", 238, .2),
    ("99283", "M3", "1", 70, .3), ("99284", "M3", "1", 121, .3), ("99285", "M3", "1", 176, .3),
    ("G0439", "M5D", "1", 128, .1),
    ("36415", "T1H", "5", 3, .1), ("80053", "T1B", "5", 11, .1), ("85025", "T1H", "5", 8, .1),
    ("83036", "T1H", "5", 10, .1), ("80061", "T1B", "5", 13, .1), ("93000", "T2D", "2", 14, .2),
    ("71046", "I1A", "4", 25, .3), ("74177", "I2B", "4", 310, .4), ("70450", "I2B", "4", 112, .4),
    ("20610", "P6B", "2", 62, .3), ("73562", "I1E", "4", 32, .3),
    # HF condition-related
    ("93306", "I3B", "4", 221, .35), ("93350", "I3B", "4", 252, .35), ("83880", "T1H", "5", 36, .2),
    ("93295", "T2C", "2", 34, .3), ("93798", "P6C", "1", 28, .15),
    # LBP condition-related
    ("72148", "I2D", "4", 232, .4), ("72100", "I1E", "4", 34, .3), ("62323", "P6B", "2", 248, .4),
    ("64493", "P6B", "2", 180, .4), ("64635", "P6B", "2", 340, .4), ("97110", "P6C", "1", 30, .2),
    ("97140", "P6C", "1", 27, .2), ("97161", "P6C", "1", 101, .2), ("98940", "M5B", "1", 29, .2),
    ("63030", "P3D", "2", 1180, .5), ("22612", "P3D", "2", 1650, .5),
    # DME (claim type 72)
    ("E0601", "D1C", "P", 58, .2), ("L0650", "D1F", "P", 820, .3), ("E0114", "D1A", "P", 24, .2),
    # fixed amounts (sigma 0): the planted G1 tie lines
    ("99495", "M5D", "1", 200, 0.0), ("99497", "M5D", "1", 86, 0.0),
    # HF condition-related: ICD implant, ICD interrogation, intensive cardiac rehab
    ("33249", "P4A", "2", 720, .3), ("93289", "T2C", "2", 45, .2), ("G0422", "P6C", "1", 118, .15),
]
HCPCS = Vocab([h[0] for h in HCPCS_TABLE])
BETOS = Vocab([""] + sorted({h[1] for h in HCPCS_TABLE}))
HC_BETOS = BETOS.indices([h[1] for h in HCPCS_TABLE])
FEDTYPE = Vocab(sorted({h[2] for h in HCPCS_TABLE}))
HC_FED = FEDTYPE.indices([h[2] for h in HCPCS_TABLE])
HC_MU = np.log(np.array([h[3] for h in HCPCS_TABLE], float)) - np.array([h[4] for h in HCPCS_TABLE]) ** 2 / 2
HC_SIGMA = np.array([h[4] for h in HCPCS_TABLE], float)


def hc(*codes) -> np.ndarray:
    return HCPCS.indices(codes)


EM_NEW = hc("99203", "99204", "99205", "99202")
EM_EST = hc("99213", "99214", "99215", "99212", "99211")
EM_CONSULT = hc("99242", "99243", "99244", "99245")
ED = hc("99283", "99284", "99285")
LABS = hc("36415", "80053", "85025", "83036", "80061", "93000", "71046")
HF_SVC = hc("93306", "93350", "83880", "93295", "93798", "93289", "G0422", "33249")
HF_SVC_P = np.array([.27, .07, .25, .08, .13, .10, .07, .03])
LBP_SVC = hc("72148", "72100", "62323", "64493", "64635", "97110", "97140", "98940", "63030", "22612")
LBP_SVC_P = np.array([.14, .14, .12, .07, .05, .18, .14, .1, .03, .03])
RADIOLOGY = hc("71046", "74177", "70450", "73562", "72100", "72148")
PT_CODES = hc("97110", "97140", "97161")
DME = hc("E0601", "L0650", "E0114")
THERAPY_MULTI = hc("97110", "97140", "93798", "G0422")

# ---------------------------------------------------------------------------------------------
# diagnoses (no dots)
HF_DX = ["I5022", "I5032", "I5042", "I509", "I110", "I130", "I5023", "I5033", "I50810"]
LBP_DX = ["M5450", "M5416", "M51360", "M51361", "M51362", "M51369", "M51370", "M48061", "M47816",
          "M5417", "M5459"]
BG_DX = ["I10", "E119", "E785", "J449", "N183", "E669", "M1711", "M25511", "G4733", "K219", "F329",
         "Z0000", "I4891", "I2510", "R0602", "E039", "M797", "M25561", "G8929", "E1122", "N400"]
DX = Vocab(["~"] + HF_DX + LBP_DX + BG_DX)
DX_HF = DX.indices(HF_DX)
DX_LBP = DX.indices(LBP_DX)
DX_BG = DX.indices(BG_DX)
DX_BG_P = np.linspace(3, 1, len(BG_DX))
DX_BG_P /= DX_BG_P.sum()

POS = Vocab(["11", "22", "02", "21", "19", "23", "24", "12"])
POS_OFFICE = np.array([POS.idx("11"), POS.idx("22"), POS.idx("02"), POS.idx("19")])
POS_OFFICE_P = np.array([.85, .08, .05, .02])


# ---------------------------------------------------------------------------------------------
def unique_ints(rng: np.random.Generator, lo: int, hi: int, n: int) -> np.ndarray:
    """n distinct random integers in [lo, hi) (order of first draw)."""
    while True:
        x = rng.integers(lo, hi, 2 * n + 10)
        _, first = np.unique(x, return_index=True)
        if len(first) >= n:
            return x[np.sort(first)[:n]]


def npi_check_digit(base9: np.ndarray) -> np.ndarray:
    """Luhn check digit of 9-digit NPI bases with the 80840 prefix (constant 24)."""
    b = np.asarray(base9, np.int64)
    d = np.stack([(b // 10 ** (8 - i)) % 10 for i in range(9)], axis=1)  # d[:,0] leftmost
    total = np.full(b.shape[0], 24, np.int64)
    for i in range(9):
        if i % 2 == 0:  # positions doubled: leftmost and every other (rightmost payload digit too)
            x = d[:, i] * 2
            total += x // 10 + x % 10
        else:
            total += d[:, i]
    return (10 - total % 10) % 10


def npi_is_valid(npi: str) -> bool:
    s = "80840" + npi
    tot = 0
    for i, ch in enumerate(reversed(s)):
        x = int(ch)
        if i % 2 == 1:
            x *= 2
            x = x // 10 + x % 10
        tot += x
    return len(npi) == 10 and tot % 10 == 0


# ---------------------------------------------------------------------------------------------
# MBI-like ids: C A AN N A AN N A A N N (letters exclude S L O I B Z)
_LET = "ACDEFGHJKMNPQRTUVWXY"
_ALPH = {"C": "123456789", "A": _LET, "N": "0123456789", "X": "0123456789" + _LET}
_MBI_FMT = "CAXNAXNAANN"
_MBI_TABLES = [np.frombuffer(_ALPH[c].encode(), np.uint8) for c in _MBI_FMT]
_MBI_RADIX = [len(_ALPH[c]) for c in _MBI_FMT]
MBI_SPACE = int(np.prod(np.array(_MBI_RADIX, dtype=object)))


def _mbi_group_table(positions: list[int]) -> tuple[np.ndarray, int]:
    """All strings of the given MBI positions as uint32 (4 ASCII bytes, left-padded with '0'),
    indexed by the mixed-radix value of those positions."""
    radix = int(np.prod([_MBI_RADIX[p] for p in positions]))
    x = np.arange(radix, dtype=np.int64)
    mat = np.full((radix, 4), ord("0"), np.uint8)
    for j, pos in zip(range(3, 3 - len(positions), -1), reversed(positions)):
        r = _MBI_RADIX[pos]
        mat[:, j] = _MBI_TABLES[pos][x % r]
        x //= r
    return np.ascontiguousarray(mat).view(np.uint32).ravel(), radix


_MBI_G0, _ = _mbi_group_table([0, 1, 2])
_MBI_G1, _MBI_G1_RADIX = _mbi_group_table([3, 4, 5, 6])
_MBI_G2, _MBI_G2_RADIX = _mbi_group_table([7, 8, 9, 10])


class MbiCoder:
    """Bijective scramble of integer sequence numbers into MBI-like ids."""

    def __init__(self, rng: np.random.Generator):
        while True:
            a = int(rng.integers(1 << 22, 1 << 25)) | 1
            if a % 3 and a % 5:
                break
        self.a = a
        self.b = int(rng.integers(0, MBI_SPACE))

    def codes(self, seq: np.ndarray) -> np.ndarray:
        seq = np.asarray(seq, np.int64)
        assert seq.max(initial=0) < (1 << 37)
        return (seq * self.a + self.b) % MBI_SPACE

    @staticmethod
    def matrix(codes: np.ndarray) -> np.ndarray:
        """(n, 11) uint8 ASCII ids: three table look-ups of 4-character groups (positions 0-2,
        3-6, 7-10; the first group is padded on the left and dropped)."""
        x = np.asarray(codes, np.int64)
        n = x.shape[0]
        buf = np.empty((n, 3), np.uint32)
        q, r = np.divmod(x, _MBI_G2_RADIX)
        buf[:, 2] = _MBI_G2[r]
        q, r = np.divmod(q, _MBI_G1_RADIX)
        buf[:, 1] = _MBI_G1[r]
        buf[:, 0] = _MBI_G0[q]
        return np.ascontiguousarray(buf.view(np.uint8).reshape(n, 12)[:, 1:])


# ---------------------------------------------------------------------------------------------
# practices and clinicians
START_DAY = day("2025-01-01")  # first day of the data
NEW_CLINICIAN_START = day("2026-01-01")  # G1 fallback: no Part B lines in the reference year (PY - 2 = 2025)
KINDS = ["cardio", "spine", "pcp", "multi"]
KIND_P = [.27, .30, .20, .23]
SIZE_CLASS_P = [.35, .45, .20]  # solo, 2-15 clinicians, large groups (16-80)
LARGE_GROUP_BILLING = 4.0  # Part B volume of a large group's clinician relative to others (P3 pool weights)
LARGE_GROUP_EPISODES = 1.6  # episode volume of a large group's specialist relative to others
# cost level of a main clinician's episodes (admissions, services): large groups costlier, so cost
# points, final scores and the P3 pay-back differ by practice size (some small practices clip at +r)
COST_LEVEL_LARGE, COST_LEVEL_OTHER, COST_LEVEL_SIGMA = 1.35, .55, .2
# Q492 (Q6): each HF specialist's planned rate of unplanned cardiovascular admissions per 100 person-years
# is its quantile of CMS's published percentile curve (qpp.admission_rate_distribution). The quantiles
# are spread evenly over the world's HF specialists (one per 1/n), in the order of the cost level mixed
# with noise at this correlation [generator DEFAULT]: costlier practices admit somewhat more often.
ADMISSION_COST_CORRELATION = .3
VOLUME_SIGMA = .25  # spread of the planned episode volume of cohort specialists (lognormal)
LOW_VOLUME_SHARE = .08  # cohort specialists planned below the case minimum (R5) ...
LOW_VOLUME_FACTOR = .2  # ... at this share of a typical volume (also second-TIN participants)
NEW_CLINICIAN_SHARE = .03  # NPIs billing from 2026 on only (G1 falls back to the PY)

# specialties of a practice's clinicians by kind of practice, with their probabilities
PRACTICE_SPECS = {
    "cardio": (["06", "01", "08", "11", "30"], [.75, .08, .07, .05, .05]),
    "spine": (LBP_SPECS + ["65", "35", "30", "01"], [.14, .14, .12, .14, .14, .12, .08, .05, .04, .03]),
    "pcp": (["01", "08", "11", "38", "65", "06"], [.35, .3, .15, .1, .05, .05]),
    "multi": (["06", "05", "09", "14", "20", "25", "72", "01", "08", "11", "38", "30", "65", "93", "35"],
              [.16, .03, .03, .03, .05, .03, .03, .14, .12, .06, .04, .08, .08, .1, .02]),
}
# secondary specialty code of an NPI that bills some lines under a second code
ALT_SPEC = {"06": "01", "01": "08", "08": "11", "20": "25", "25": "72", "72": "09", "09": "05", "05": "72",
            "14": "20", "11": "01", "38": "01", "30": "30", "65": "65", "93": "08", "35": "35"}
# practices with a ZIP of a selected CBSA, of another CBSA, straddling two CBSAs
ZIP_CLASS_P = [.82, .12, .06]


@dataclass(frozen=True)
class G1Tie:
    """An NPI whose reference-year (PY - 2) lines are split equally between two specialty codes."""
    participant: int
    lines: tuple[tuple[int, int], ...]  # (specialty index, HCPCS index) of each planted line
    expected: str  # the specialty G1 picks: the larger allowed amount, else the lower code
    rule: str  # "allowed" or "code": which tie-break decides


@dataclass
class World:
    """Practices (TINs), clinicians (NPIs) and participants (TIN/NPI); arrays p_* by participant."""
    tins: list[str]
    tin_kind: list[str]
    tin_size: np.ndarray  # clinicians of the practice (S5)
    tin_zip: np.ndarray  # index into ZIP5
    p_tin: np.ndarray  # index into tins
    p_npi: np.ndarray  # index into npis
    p_spec: np.ndarray  # index into SPEC vocab (primary)
    p_spec2: np.ndarray  # secondary specialty index or -1
    p_zip: np.ndarray  # index into ZIP5 / ZIP9: the practice's ZIP
    p_weight: np.ndarray  # Part B billing volume (background visits, other clinicians' visits)
    p_volume: np.ndarray  # planned episode volume (0 outside the cohort specialties)
    p_cost_level: np.ndarray  # cost of the episodes it is the main clinician of, relative to the mean
    p_low_volume: np.ndarray  # planned below the case minimum (R5)
    p_admission_rate: np.ndarray  # Q492: planned admissions per 100 person-years (HF specialists; else 0)
    p_second: np.ndarray  # the NPI's second TIN
    p_start: np.ndarray  # first day the NPI bills (NEW_CLINICIAN_START for new clinicians)
    p_cover: np.ndarray  # who bills a non-cohort claim dated before p_start instead (same TIN if possible)
    p_sibling: np.ndarray  # another participant of the same TIN (different NPI) or -1
    npis: list[str]
    npi_zip: list[str]  # providers.csv ZIP: that of the NPI's first TIN
    ties: list[G1Tie]
    TIN: Vocab
    NPI: Vocab  # index len(npis) = "" (blank)
    SPEC: Vocab
    ZIP9: Vocab
    ZIP5: list[str]
    mbi: MbiCoder

    def group(self, specs: list[str]) -> np.ndarray:
        codes = self.SPEC.indices(specs)
        return np.flatnonzero(np.isin(self.p_spec, codes))

    @property
    def p_new(self) -> np.ndarray:
        return self.p_start > START_DAY


def build_world(rng: np.random.Generator, n_tin: int) -> World:
    """n_tin practices of four kinds and three size classes, their clinicians and participants."""
    kinds = np.array(KINDS)[quota(rng, KIND_P, n_tin)]
    sizes = _practice_sizes(rng, kinds)
    tins = [f"{t:09d}" for t in sorted(unique_ints(rng, 1_000_000, 999_999_999, n_tin).tolist())]
    tin_zip = _practice_zips(rng, sizes)
    SPEC = Vocab(SPECS)
    p_tin, p_npi, p_spec = _clinicians(rng, kinds, sizes, SPEC)
    n_npi = len(p_npi)
    p_tin, p_npi, p_spec, is_second = _second_tins(rng, kinds, sizes, p_tin, p_npi, p_spec)
    p_spec2 = _secondary_specialties(rng, SPEC, n_npi, p_npi, p_spec)
    bases = unique_ints(rng, 100_000_000, 200_000_000, n_npi)  # 9-digit base starting with 1 + Luhn digit
    npis = [f"{b:09d}{c}" for b, c in zip(bases.tolist(), npi_check_digit(bases).tolist())]
    p_zip = tin_zip[p_tin]
    npi_zip = np.zeros(n_npi, np.int64)
    npi_zip[p_npi[~is_second]] = p_zip[~is_second]
    tin_size = np.bincount(p_tin, minlength=n_tin)  # clinicians, second TINs included (S5)
    weight, volume, low, cost_level = _activity(rng, SPEC, p_spec, is_second, tin_size[p_tin] > 15)
    start, ties = _g1_scenarios(rng, SPEC, p_spec, p_spec2, p_npi, p_zip, low)
    mbi = MbiCoder(rng)
    admission_rate = _admission_rates(rng, SPEC, p_spec, cost_level)  # last draw: the rest is as before
    return World(tins=tins, tin_kind=[str(k) for k in kinds], tin_size=tin_size, tin_zip=tin_zip, p_tin=p_tin,
                 p_npi=p_npi, p_spec=p_spec, p_spec2=p_spec2, p_zip=p_zip, p_weight=weight, p_volume=volume,
                 p_cost_level=cost_level, p_low_volume=low, p_admission_rate=admission_rate, p_second=is_second, p_start=start,
                 p_cover=_covers(p_tin, start, weight), p_sibling=_siblings(p_tin), npis=npis,
                 npi_zip=[PRACTICE_ZIPS[z] for z in npi_zip.tolist()], ties=ties, TIN=Vocab(tins),
                 NPI=Vocab(npis + [""]), SPEC=SPEC, ZIP5=list(PRACTICE_ZIPS),
                 ZIP9=Vocab([z + f"{1000 + i:04d}" for i, z in enumerate(PRACTICE_ZIPS)]), mbi=mbi)


def _activity(rng, SPEC: Vocab, p_spec, is_second, large) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per participant: Part B billing weight, planned episode volume, planned below the case
    minimum, and cost level (1 on average over the planned episodes). Large groups bill more,
    hold more episodes and cost more (LARGE_GROUP_*, COST_LEVEL_*)."""
    weight = rng.lognormal(0, .6, len(p_spec))
    weight[is_second] *= .4  # a clinician bills a minority of lines under the second TIN
    weight[large] *= LARGE_GROUP_BILLING
    volume, low = _episode_volume(rng, SPEC, p_spec, is_second)
    volume[large] *= LARGE_GROUP_EPISODES
    cost_level = (np.where(large, COST_LEVEL_LARGE, COST_LEVEL_OTHER)
                  * rng.lognormal(-COST_LEVEL_SIGMA ** 2 / 2, COST_LEVEL_SIGMA, len(p_spec)))
    return weight, volume, low, cost_level / np.average(cost_level, weights=volume)


def _admission_rates(rng, SPEC: Vocab, p_spec, cost_level) -> np.ndarray:
    """Q492 planned rate per participant (ADMISSION_COST_CORRELATION): HF specialists at evenly spread
    quantiles of CMS's percentile curve, ranked by cost level and noise; 0 for everyone else."""
    rate = np.zeros(len(p_spec))
    hf = np.flatnonzero(np.isin(p_spec, SPEC.indices(HF_SPEC)))
    if not len(hf):
        return rate
    z = np.log(cost_level[hf])
    z = (z - z.mean()) / max(float(z.std()), 1e-12)
    rho = ADMISSION_COST_CORRELATION
    key = rho * z + np.sqrt(1 - rho ** 2) * rng.standard_normal(len(hf))
    u = (np.argsort(np.argsort(key, kind="stable")) + rng.random(len(hf))) / len(hf)
    rate[hf] = qpp.admission_rate_distribution().draw(u) * 100.0
    return rate


def quota(rng, p: list[float], n: int) -> np.ndarray:
    """n labels 0..len(p)-1 in shares p, as exact as whole numbers allow (largest remainders), in
    random order: the world's make-up varies less between seeds than with independent draws."""
    want = np.array(p) * n
    count = np.floor(want).astype(np.int64)
    count[np.argsort(count - want, kind="stable")[:n - count.sum()]] += 1
    return rng.permutation(np.repeat(np.arange(len(p)), count))


def _practice_sizes(rng, kinds: np.ndarray) -> np.ndarray:
    """Clinicians per practice: solo, 2-15 (small practices, S5) or a large group of 16-80, in
    SIZE_CLASS_P shares within each kind of practice."""
    n_tin = len(kinds)
    cls = np.zeros(n_tin, np.int64)
    for k in KINDS:
        m = np.flatnonzero(kinds == k)
        cls[m] = quota(rng, SIZE_CLASS_P, len(m))
    small = rng.integers(2, 16, n_tin)
    large = np.minimum(16 + np.floor(rng.lognormal(np.log(20), .5, n_tin)).astype(np.int64), 80)
    return np.select([cls == 0, cls == 1], [1, small], large)


def _practice_zips(rng, sizes: np.ndarray) -> np.ndarray:
    """Practice ZIP (index into PRACTICE_ZIPS): a ZIP of a selected CBSA, of another CBSA or one
    straddling two CBSAs in ZIP_CLASS_P shares within each size class; one practice of at most 15
    clinicians in each ZIP straddling two CBSAs and one in the ZIP missing from zip_cbsa.csv."""
    geo = cbsa_of_zip()
    zip_class = np.array([2 if z in MULTI_CBSA_ZIPS else 3 if geo[z][0] is None else 0 if geo[z][1] else 1
                          for z in PRACTICE_ZIPS])
    z = np.zeros(len(sizes), np.int64)
    for size_class in (sizes == 1, (sizes > 1) & (sizes <= 15), sizes > 15):
        m = np.flatnonzero(size_class)
        cls = quota(rng, ZIP_CLASS_P, len(m))
        for c in range(len(ZIP_CLASS_P)):
            options = np.flatnonzero(zip_class == c)
            z[m[cls == c]] = options[rng.integers(0, len(options), int((cls == c).sum()))]
    forced = [PRACTICE_ZIPS.index(x) for x in list(MULTI_CBSA_ZIPS) + [UNMAPPED_ZIP]]
    small = np.flatnonzero(sizes <= 15)
    pick = rng.choice(small, min(len(forced), len(small)), replace=False)
    z[pick] = forced[:len(pick)]
    return z


def _clinicians(rng, kinds: np.ndarray, sizes: np.ndarray, SPEC: Vocab) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One participant per clinician of every practice: TIN, NPI (numbered in order) and specialty,
    drawn by kind of practice (PRACTICE_SPECS); a solo practice has the practice's clinical
    specialty (a spine practice: one of the LBP specialties)."""
    p_tin = np.repeat(np.arange(len(kinds)), sizes)
    p_kind = kinds[p_tin]
    solo = sizes[p_tin] == 1
    p_spec = np.zeros(len(p_tin), np.int64)
    for k, (specs, probs) in PRACTICE_SPECS.items():
        m = np.flatnonzero(p_kind == k)
        pool = SPEC.indices(specs)
        drawn = pool[rng.choice(len(specs), len(m), p=np.array(probs) / np.sum(probs))]
        solo_spec = pool[rng.integers(0, len(LBP_SPECS), len(m))] if k == "spine" else np.full(len(m), pool[0])
        p_spec[m] = np.where(solo[m], solo_spec, drawn)
    return p_tin, np.arange(len(p_tin)), p_spec


def _second_tins(rng, kinds, sizes, p_tin, p_npi, p_spec):
    """Some NPIs (of group practices) also bill under a second TIN of the same kind: participants
    appended; returns the participants' TIN, NPI, specialty and whether it is a second TIN."""
    group_p = np.flatnonzero(sizes[p_tin] > 1)
    dual = np.sort(rng.choice(group_p, min(len(group_p), max(3, len(group_p) // 20)), replace=False))
    u = rng.random(len(dual))
    extra_tin = np.full(len(dual), -1)
    for k in KINDS:
        cand = np.flatnonzero((kinds == k) & (sizes > 1))
        mine = np.flatnonzero(kinds[p_tin[dual]] == k)
        if len(cand) < 2 or not len(mine):
            continue
        own = np.searchsorted(cand, p_tin[dual[mine]])
        j = (u[mine] * (len(cand) - 1)).astype(np.int64)
        extra_tin[mine] = cand[j + (j >= own)]  # any other practice of the kind
    dual, extra_tin = dual[extra_tin >= 0], extra_tin[extra_tin >= 0]
    is_second = np.r_[np.zeros(len(p_tin), bool), np.ones(len(dual), bool)]
    return (np.r_[p_tin, extra_tin].astype(np.int64), np.r_[p_npi, p_npi[dual]].astype(np.int64),
            np.r_[p_spec, p_spec[dual]].astype(np.int64), is_second)


def _secondary_specialties(rng, SPEC: Vocab, n_npi: int, p_npi: np.ndarray, p_spec: np.ndarray) -> np.ndarray:
    """Secondary specialty code (index, or -1) of each participant: used on a minority of lines by
    ~8% of NPIs."""
    spec2_for_npi = np.full(n_npi, -1)
    pick = rng.random(n_npi) < .08
    npi_spec = np.zeros(n_npi, np.int64)
    npi_spec[p_npi] = p_spec
    for i in np.flatnonzero(pick).tolist():
        a = ALT_SPEC[SPEC.values[npi_spec[i]]]
        if a != SPEC.values[npi_spec[i]]:
            spec2_for_npi[i] = SPEC.idx(a)
    return spec2_for_npi[p_npi]


def _episode_volume(rng, SPEC: Vocab, p_spec: np.ndarray, is_second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Planned episode volume of cohort specialists (main clinicians are drawn in proportion) and
    which of them are planned below the case minimum (a share of them, and second TINs)."""
    n = len(p_spec)
    cohort_spec = np.isin(p_spec, SPEC.indices(HF_SPEC + LBP_SPECS))
    volume = rng.lognormal(0, VOLUME_SIGMA, n)
    low = cohort_spec & ((rng.random(n) < LOW_VOLUME_SHARE) | is_second)
    volume = np.where(low, volume * LOW_VOLUME_FACTOR, volume)
    return np.where(cohort_spec, volume, 0.0), low


def _pick(rng, mask: np.ndarray, k: int) -> list[int]:
    idx = np.flatnonzero(mask)
    return rng.choice(idx, min(k, len(idx)), replace=False).tolist()


def _g1_scenarios(rng, SPEC: Vocab, p_spec, p_spec2, p_npi, p_zip, low) -> tuple[np.ndarray, list[G1Tie]]:
    """G1 cases: new clinicians (first billing 2026-01-01: no reference-year lines, G1 falls back to
    the PY), at least one specialist per cohort among them; and per cohort one new NPI whose only
    reference-year lines are a planted tie between two specialty codes (p_spec2 is cleared for it).
    Returns each participant's first billing day and the ties."""
    n_npi = int(p_npi.max()) + 1
    new_npi = rng.random(n_npi) < NEW_CLINICIAN_SHARE
    single = np.bincount(p_npi, minlength=n_npi)[p_npi] == 1
    geo = cbsa_of_zip()
    selected = np.array([bool(geo[z][1]) for z in PRACTICE_ZIPS])[p_zip]
    ties = []
    hc_big, hc_small = HCPCS.idx("99495"), HCPCS.idx("99497")
    for specs in (HF_SPEC, LBP_SPECS):
        fallback, tie = (_pick(rng, single & selected & ~low & np.isin(p_spec, SPEC.indices(specs)), 2) + [-1, -1])[:2]
        for p in (fallback, tie):
            if p >= 0:
                new_npi[p_npi[p]] = True
        if tie < 0:
            continue
        own = SPEC.values[p_spec[tie]]
        if specs == HF_SPEC:  # equal line counts, larger allowed amount on the cardiology lines
            other, lines, expected, rule = "01", [(own, hc_big)] * 3 + [("01", hc_small)] * 3, own, "allowed"
        else:  # equal line counts and allowed amounts: the lower code
            other = LBP_SPECS[(LBP_SPECS.index(own) + 1) % len(LBP_SPECS)]
            lines, expected, rule = [(own, hc_small)] * 3 + [(other, hc_small)] * 3, min(own, other), "code"
        p_spec2[tie] = -1
        ties.append(G1Tie(tie, tuple((SPEC.idx(s), int(h)) for s, h in lines), expected, rule))
    return np.where(new_npi[p_npi], NEW_CLINICIAN_START, START_DAY), ties


def _covers(p_tin: np.ndarray, start: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """For a new clinician, the busiest clinician of its practice billing from the start (else of
    all practices); everyone else covers itself."""
    cover = np.arange(len(p_tin))
    old = start <= START_DAY
    busiest = int(np.flatnonzero(old)[np.argmax(weight[old])])
    for p in np.flatnonzero(~old).tolist():
        mates = np.flatnonzero(old & (p_tin == p_tin[p]))
        cover[p] = mates[np.argmax(weight[mates])] if len(mates) else busiest
    return cover


def _siblings(p_tin: np.ndarray) -> np.ndarray:
    """The previous participant of the same TIN (cyclically; a different NPI), or -1 when alone (for
    pair-scope tests)."""
    o = np.argsort(p_tin, kind="stable")
    t = p_tin[o]
    first, end = np.searchsorted(t, t, "left"), np.searchsorted(t, t, "right")
    pos = np.arange(len(t))
    prev = np.where(pos > first, pos - 1, end - 1)
    sib = np.full(len(t), -1)
    sib[o] = np.where(end - first > 1, o[prev], -1)
    return sib


__all__ = ["World", "build_world", "npi_is_valid", "CBSAS"]
