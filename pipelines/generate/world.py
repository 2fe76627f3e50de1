"""The fixed part of the synthetic world: practices (TINs), clinicians (NPIs), participants
(TIN/NPI), code tables and id encoders.  Everything derives from the seed."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .reference import CBSAS, SELECTED, ZIPS
from .render import Vocab

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
HF_SVC = hc("93306", "93350", "83880", "93295", "93798")
HF_SVC_P = np.array([.35, .1, .3, .1, .15])
LBP_SVC = hc("72148", "72100", "62323", "64493", "64635", "97110", "97140", "98940", "63030", "22612")
LBP_SVC_P = np.array([.14, .14, .12, .07, .05, .18, .14, .1, .03, .03])
RADIOLOGY = hc("71046", "74177", "70450", "73562", "72100", "72148")
PT_CODES = hc("97110", "97140", "97161")
DME = hc("E0601", "L0650", "E0114")
THERAPY_MULTI = hc("97110", "97140", "93798")

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

    @staticmethod
    def strings(codes: np.ndarray) -> list[str]:
        m = MbiCoder.matrix(codes)
        return [s.decode() for s in m.view("S11").ravel()]


# ---------------------------------------------------------------------------------------------
@dataclass
class World:
    tins: list[str]
    tin_kind: list[str]
    tin_zip: list[str]
    # participants (TIN/NPI)
    p_tin: np.ndarray  # index into tins
    p_npi: np.ndarray  # index into npis
    p_spec: np.ndarray  # index into SPEC vocab (primary)
    p_spec2: np.ndarray  # secondary specialty index or -1
    p_zip: np.ndarray  # index into ZIP vocab
    p_weight: np.ndarray
    p_sibling: np.ndarray  # another participant of the same TIN (different NPI) or -1
    npis: list[str]
    npi_zip: list[str]
    TIN: Vocab
    NPI: Vocab  # index len(npis) = "" (blank)
    SPEC: Vocab
    ZIP9: Vocab
    ZIP5: list[str]
    mbi: MbiCoder

    def group(self, specs: list[str]) -> np.ndarray:
        codes = self.SPEC.indices(specs)
        return np.flatnonzero(np.isin(self.p_spec, codes))


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


def build_world(rng: np.random.Generator) -> World:
    n_tin = int(rng.integers(50, 101))
    kinds = rng.choice(["cardio", "spine", "pcp", "multi"], n_tin, p=[.27, .3, .2, .23])
    size_cls = rng.choice(3, n_tin, p=[.3, .45, .25])
    sizes = np.where(size_cls == 0, 1, np.where(size_cls == 1, rng.integers(2, 16, n_tin),
                                                 rng.integers(16, 61, n_tin)))
    tin_nums = unique_ints(rng, 1_000_000, 999_999_999, n_tin)
    tins = [f"{t:09d}" for t in sorted(tin_nums.tolist())]
    zips5 = [z[0] for z in ZIPS]
    tin_zip = [zips5[i] for i in rng.integers(0, len(zips5), n_tin)]
    SPEC = Vocab(SPECS)
    p_tin, p_npi, p_spec = _clinicians(rng, kinds, sizes, SPEC)
    n_npi = len(p_npi)
    p_tin, p_npi, p_spec, is_second = _second_tins(rng, kinds, sizes, p_tin, p_npi, p_spec)
    p_spec2 = _secondary_specialties(rng, SPEC, n_npi, p_npi, p_spec)
    # NPIs: 9-digit base starting with 1 + Luhn check digit
    bases = unique_ints(rng, 100_000_000, 200_000_000, n_npi)
    npis = [f"{b:09d}{c}" for b, c in zip(bases.tolist(), npi_check_digit(bases).tolist())]
    NPI = Vocab(npis + [""])
    # ZIPs: the practice ZIP (an NPI's providers.csv ZIP = ZIP of its first TIN)
    ZIP5 = zips5
    zip_idx = {z: i for i, z in enumerate(zips5)}
    p_zip = np.array([zip_idx[tin_zip[t]] for t in p_tin.tolist()])
    ZIP9 = Vocab([z + f"{1000 + i:04d}" for i, z in enumerate(zips5)])
    npi_zip = [""] * n_npi
    for p in range(len(p_tin)):
        if not is_second[p]:
            npi_zip[p_npi[p]] = zips5[p_zip[p]]
    weight = rng.lognormal(0, .6, len(p_tin))
    weight[is_second] *= .4  # a clinician bills a minority of lines under the second TIN
    return World(tins=tins, tin_kind=[str(k) for k in kinds], tin_zip=tin_zip, p_tin=p_tin, p_npi=p_npi,
                 p_spec=p_spec, p_spec2=p_spec2, p_zip=p_zip, p_weight=weight, p_sibling=_siblings(p_tin, n_tin),
                 npis=npis, npi_zip=npi_zip, TIN=Vocab(tins), NPI=NPI, SPEC=SPEC, ZIP9=ZIP9, ZIP5=ZIP5,
                 mbi=MbiCoder(rng))


def _clinicians(rng, kinds: np.ndarray, sizes: np.ndarray, SPEC: Vocab) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One participant per clinician of every practice: TIN, NPI (numbered in order) and specialty."""
    p_tin, p_spec_s, p_npi = [], [], []
    next_npi = 0
    for t in range(len(kinds)):
        specs, probs = PRACTICE_SPECS[str(kinds[t])]
        if sizes[t] == 1:  # solo practices: the clinical specialty of the practice
            specs, probs = specs[:1] if kinds[t] != "spine" else [specs[int(rng.integers(0, 6))]], [1.0]
        chosen = rng.choice(specs, int(sizes[t]), p=np.array(probs) / np.sum(probs))
        for s in chosen:
            p_tin.append(t)
            p_spec_s.append(str(s))
            p_npi.append(next_npi)
            next_npi += 1
    return np.array(p_tin), np.array(p_npi), SPEC.indices(p_spec_s)


def _second_tins(rng, kinds, sizes, p_tin, p_npi, p_spec):
    """Some NPIs (of group practices) also bill under a second TIN of the same kind: participants
    appended; returns the participants' TIN, NPI, specialty and whether it is a second TIN."""
    n_tin = len(kinds)
    group_p = np.flatnonzero(sizes[p_tin] > 1)
    dual = rng.choice(group_p, max(3, len(group_p) // 20), replace=False)
    extra_tin, extra_npi, extra_spec = [], [], []
    for p in dual.tolist():
        same_kind = [t for t in range(n_tin) if kinds[t] == kinds[p_tin[p]] and t != p_tin[p] and sizes[t] > 1]
        if not same_kind:
            continue
        extra_tin.append(same_kind[int(rng.integers(0, len(same_kind)))])
        extra_npi.append(p_npi[p])
        extra_spec.append(p_spec[p])
    p_tin = np.concatenate([p_tin, extra_tin]).astype(np.int64)
    p_npi = np.concatenate([p_npi, extra_npi]).astype(np.int64)
    p_spec = np.concatenate([p_spec, extra_spec]).astype(np.int64)
    n_p = len(p_tin)
    is_second = np.zeros(n_p, bool)
    is_second[n_p - len(extra_tin):] = True
    return p_tin, p_npi, p_spec, is_second


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


def _siblings(p_tin: np.ndarray, n_tin: int) -> np.ndarray:
    """Another participant in the same TIN with a different NPI, or -1 (for pair-scope tests)."""
    sib = np.full(len(p_tin), -1)
    for t in range(n_tin):
        members = np.flatnonzero(p_tin == t)
        if len(members) > 1:
            sib[members] = np.roll(members, 1)
    return sib


def cbsa_of_zip() -> dict[str, tuple[str, bool]]:
    return {z: (c, c in SELECTED) for z, c, _ in ZIPS}


__all__ = ["World", "build_world", "npi_is_valid", "CBSAS"]
