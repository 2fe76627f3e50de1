"""Parameters of the scoring rules, read from the methodology configuration (one place)."""
from __future__ import annotations

from dataclasses import dataclass

from pipelines.methodology import Methodology


@dataclass(frozen=True)
class CostParams:
    case_minimum: int  # R5
    threshold_sd_multiples: tuple[float, ...]  # B3
    partial_point_span: float  # B3
    degenerate_median_points: float  # B3 [DEFAULT]


@dataclass(frozen=True)
class QualityParams:
    required_measures: dict[str, tuple[str, ...]]  # Q1
    not_scored_measures: tuple[str, ...]  # Q1/Q6
    lower_is_better: tuple[str, ...]  # Q1
    min_data_completeness: float  # Q3
    min_cases: int  # Q4
    quantile_method: str  # Q5
    partial_point_span: float  # Q5
    claims_collection_types: tuple[str, ...]  # S6

    def cohort_of_measure(self) -> dict[str, str]:
        return {m: c for c, ms in self.required_measures.items() for m in ms}

    def scored_measures(self, cohort: str) -> tuple[str, ...]:
        """Q7: the required measures of a cohort that are scored in this run."""
        return tuple(m for m in self.required_measures.get(cohort, ()) if m not in self.not_scored_measures)


@dataclass(frozen=True)
class ScoringParams:
    quality_weight: float
    cost_weight: float
    ia_adjustment_both: float
    ia_adjustment_one: float
    ia_adjustment_none: float
    pi_divisor: float
    pi_not_reported: float
    complex_bonus_cap: float
    complex_bonus_slope: float
    solo_bonus: float
    small_practice_bonus: float
    small_practice_max_clinicians: int
    final_score_min: float
    final_score_max: float


@dataclass(frozen=True)
class PaymentParams:
    risk_level: float  # P1
    logistic_k: float  # P2
    logistic_c: float  # P2
    payback_share: float  # P3


@dataclass(frozen=True)
class EligibilityParams:
    reference_year_offset: int
    cohort_specialties: dict[str, tuple[str, ...]]
    zip_source_priority: tuple[str, ...]


def cost_params(m: Methodology) -> CostParams:
    return CostParams(
        case_minimum=int(m.get("benchmarks.case_minimum")),
        threshold_sd_multiples=tuple(float(x) for x in m.get("benchmarks.threshold_sd_multiples")),
        partial_point_span=float(m.get("benchmarks.partial_point_span")),
        degenerate_median_points=float(m.get("benchmarks.degenerate_median_points")),
    )


def quality_params(m: Methodology, part_a_supplied: bool = False) -> QualityParams:
    """Q1/Q6: measures computed from Part A (`quality.part_a_measures`, Q492) are scored only when the
    run has Part A claims; otherwise they join `not_scored_measures`."""
    not_scored = tuple(m.get("quality.not_scored_measures"))
    if not part_a_supplied:
        not_scored += tuple(x for x in m.get("quality.part_a_measures") if x not in not_scored)
    return QualityParams(
        required_measures={c: tuple(v) for c, v in m.get("quality.required_measures").items()},
        not_scored_measures=not_scored,
        lower_is_better=tuple(m.get("quality.lower_is_better")),
        min_data_completeness=float(m.get("quality.min_data_completeness")),
        min_cases=int(m.get("quality.min_cases")),
        quantile_method=str(m.get("quality.decile_quantile_method")),
        partial_point_span=float(m.get("quality.partial_point_span")),
        claims_collection_types=tuple(m.get("quality.claims_collection_types")),
    )


def scoring_params(m: Methodology) -> ScoringParams:
    s = m.section("scoring")
    return ScoringParams(**{f: type_(s[f]) for f, type_ in (
        ("quality_weight", float), ("cost_weight", float), ("ia_adjustment_both", float),
        ("ia_adjustment_one", float), ("ia_adjustment_none", float), ("pi_divisor", float),
        ("pi_not_reported", float), ("complex_bonus_cap", float), ("complex_bonus_slope", float),
        ("solo_bonus", float), ("small_practice_bonus", float), ("small_practice_max_clinicians", int),
        ("final_score_min", float), ("final_score_max", float),
    )})


def payment_params(m: Methodology) -> PaymentParams:
    return PaymentParams(
        risk_level=float(m.get("payment.risk_level")),
        logistic_k=float(m.get("payment.logistic_k")),
        logistic_c=float(m.get("payment.logistic_c")),
        payback_share=float(m.get("payment.payback_share")),
    )


def eligibility_params(m: Methodology) -> EligibilityParams:
    return EligibilityParams(
        reference_year_offset=int(m.get("eligibility.reference_year_offset")),
        cohort_specialties={c: tuple(v) for c, v in m.get("eligibility.cohort_specialties").items()},
        zip_source_priority=tuple(m.get("eligibility.zip_source_priority")),
    )
