"""CMS's published MIPS figures the generator calibrates to (data/reference/qpp/, copied unchanged
from CMS's qpp-measures-data; see that folder's README for the attribution).

- Quality: per measure and collection type, the percentiles p1..p99 of clinicians' performance rates
  (`mips_quality_benchmarks.csv`, latest performance year <= the generator's PY that has the pair).
  The columns ascend in value for every measure, inverse ones (Q238, Q492) included: p1 is the
  lowest rate, which for an inverse measure is the best performer, not the worst.
- Q492 (computed by CMS from claims, `administrativeClaims`): the percentiles of clinicians'
  risk-standardized admission rates per 100 person-years (admission_rate_distribution).
- Which collection types a measure has (`mips_measures_2027.csv`).
- Cost: the national average episode cost per cohort (`mips_cost_national_averages.csv`).

Read from the repository (data/reference/qpp/), never from a folder outside it.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .render import REPO

QPP_DIR = REPO / "data" / "reference" / "qpp"
# MIPS submission method -> ASM collection type (Q2)
COLLECTION_TYPE = {"electronicHealthRecord": "ecqm", "registry": "mips_cqm", "claims": "claims"}
LEVELS = (1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 99)  # the percentile columns p1..p99
COST_MEASURE = {"HF": "COST_HF_1", "LBP": "COST_LBP_1"}
# Q492's percentile row [generator DEFAULT]: the latest one that is a distribution of clinicians' rates.
# CMS's 2025 and 2026 rows are no such distribution: p1 = 0 admissions per 100 person-years and p10 ... p99
# spaced by half a standard deviation (2.14) around 71.12, the cost-score thresholds of MIPS's scoring,
# while the published average is 67.1. The 2024 row (p1 58.28, p50 67.43, p99 78.4, average 67.72) is.
ADMISSION_RATE_PY = 2024
ADMISSION_MEASURE = ("492", "administrativeClaims")


@dataclass(frozen=True)
class RateDistribution:
    """Performance rates (percent) of one measure and collection type, as CMS published them."""
    measure_id: str  # "Q005"
    collection_type: str  # ecqm, mips_cqm, claims
    performance_year: int  # the MIPS PY of the row used
    values: tuple[float, ...]  # at LEVELS
    source: str  # the (measure, submission method) row the values come from
    is_inverse: bool

    def draw(self, u: np.ndarray) -> np.ndarray:
        """Rates (fractions 0..1) at quantiles u (uniform draws): the inverse of CMS's percentile
        curve, linear between the published percentiles and flat beyond p1 and p99."""
        return np.interp(u, np.array(LEVELS) / 100.0, np.array(self.values)) / 100.0


def _rows(name: str) -> list[dict]:
    with open(QPP_DIR / name, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _measure_id(raw: str) -> str:
    return raw if raw.startswith("COST") else f"Q{raw}"


def is_placeholder(values: tuple[float, ...]) -> bool:
    """A row whose percentiles equal their own levels (p1 = 1 ... p99 = 99) carries no published
    distribution (Q236 claims and registry, Q134 CMS Web Interface in the file)."""
    return all(abs(v - k) < 1e-9 for v, k in zip(values, LEVELS))


@lru_cache(maxsize=None)
def collection_types() -> dict[str, tuple[str, ...]]:
    """Measure -> the ASM collection types it has (submitted measures only: Q492 and the cost
    measures are computed by CMS from claims, never submitted)."""
    out = {}
    for r in _rows("mips_measures_2027.csv"):
        types = tuple(COLLECTION_TYPE[m] for m in r["submission_methods"].split(";") if m in COLLECTION_TYPE)
        if types:
            out[_measure_id(r["measure_id"])] = types
    return out


@lru_cache(maxsize=None)
def rate_distributions(performance_year: int) -> dict[tuple[str, str], RateDistribution]:
    """(measure, collection type) -> CMS's latest published percentiles up to performance_year.
    A placeholder row (is_placeholder) is replaced by the same measure's eCQM percentiles of that
    year [generator DEFAULT: CMS published no distribution for it]."""
    latest: dict[tuple[str, str], dict] = {}
    for r in _rows("mips_quality_benchmarks.csv"):
        ctype = COLLECTION_TYPE.get(r["submission_method"])
        py = int(r["performance_year"])
        key = (_measure_id(r["measure_id"]), ctype)
        if ctype is None or py > performance_year or key[0] not in collection_types():
            continue
        if key not in latest or py > int(latest[key]["performance_year"]):
            latest[key] = r
    out = {}
    for (measure, ctype), r in latest.items():
        src = r
        values = tuple(float(r[f"p{k}"]) for k in LEVELS)
        if is_placeholder(values):
            src = latest[(measure, "ecqm")]
            values = tuple(float(src[f"p{k}"]) for k in LEVELS)
        out[(measure, ctype)] = RateDistribution(
            measure_id=measure, collection_type=ctype, performance_year=int(r["performance_year"]), values=values,
            source=f"{src['performance_year']} {src['measure_id']} {src['submission_method']}",
            is_inverse=r["is_inverse"] == "True")
    missing = [(m, c) for m, types in collection_types().items() for c in types if (m, c) not in out]
    if missing:
        raise ValueError(f"{QPP_DIR / 'mips_quality_benchmarks.csv'}: no percentiles for {missing}")
    return out


@lru_cache(maxsize=None)
def admission_rate_distribution(performance_year: int = ADMISSION_RATE_PY) -> RateDistribution:
    """Q492: CMS's percentiles of clinicians' risk-standardized admission rates (per 100 person-years,
    lower is better) of `performance_year` (ADMISSION_RATE_PY: why that year). draw() x 100 gives rates
    per 100 person-years."""
    rows = [r for r in _rows("mips_quality_benchmarks.csv")
            if (r["measure_id"], r["submission_method"]) == ADMISSION_MEASURE
            and int(r["performance_year"]) == performance_year]
    if not rows:
        raise ValueError(f"{QPP_DIR / 'mips_quality_benchmarks.csv'}: no Q492 administrativeClaims row of "
                         f"performance_year {performance_year}")
    r = rows[0]
    return RateDistribution(
        measure_id="Q492", collection_type="administrativeClaims", performance_year=performance_year,
        values=tuple(float(r[f"p{k}"]) for k in LEVELS),
        source=f"{r['performance_year']} {r['measure_id']} {r['submission_method']}", is_inverse=True)


@lru_cache(maxsize=None)
def national_average_cost(performance_year: int) -> dict[str, float]:
    """Cohort -> CMS's national average episode cost of the latest PY <= performance_year."""
    best: dict[str, tuple[int, float]] = {}
    for r in _rows("mips_cost_national_averages.csv"):
        py = int(r["performance_year"])
        for cohort, measure in COST_MEASURE.items():
            if r["measure_id"] == measure and py <= performance_year and py > best.get(cohort, (0, 0.0))[0]:
                best[cohort] = (py, float(r["individual_national_average"]))
    return {c: v for c, (_, v) in best.items()}
