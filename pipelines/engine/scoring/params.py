"""The quality rules of one run: the configured Q1-Q7 parameters (methodology `quality`) plus what the
run's data decides, Q6: measures computed from Part A (Q492) are scored only when the run has Part A
claims. Every other scoring section is used as the typed methodology model gives it."""
from __future__ import annotations

from dataclasses import dataclass

from pipelines.engine.methodology import Methodology


@dataclass(frozen=True)
class QualityRules:
    required_measures: dict[str, tuple[str, ...]]  # Q1
    not_scored_measures: tuple[str, ...]  # Q1/Q6
    lower_is_better: tuple[str, ...]  # Q1
    min_data_completeness: float  # Q3
    min_cases: int  # Q4
    quantile_method: str  # Q5
    boundary_goes_to: str  # Q5: "better" / "worse"
    partial_point_span: float  # Q5
    decile_10_points: float  # Q5
    claims_collection_types: tuple[str, ...]  # S6

    def cohort_of_measure(self) -> dict[str, str]:
        return {m: c for c, ms in self.required_measures.items() for m in ms}

    def scored_measures(self, cohort: str) -> tuple[str, ...]:
        """Q7: the required measures of a cohort that are scored in this run."""
        return tuple(m for m in self.required_measures.get(cohort, ()) if m not in self.not_scored_measures)


def quality_params(m: Methodology, part_a_supplied: bool = False) -> QualityRules:
    """Q1/Q6: measures computed from Part A (`quality.part_a_measures`, Q492) join `not_scored_measures`
    when the run has no Part A claims."""
    q = m.quality
    not_scored = tuple(q.not_scored_measures)
    if not part_a_supplied:
        not_scored += tuple(x for x in q.part_a_measures if x not in not_scored)
    return QualityRules(
        required_measures={c: tuple(v) for c, v in q.required_measures.items()},
        not_scored_measures=not_scored,
        lower_is_better=tuple(q.lower_is_better),
        min_data_completeness=q.min_data_completeness,
        min_cases=q.min_cases,
        quantile_method=q.decile_quantile_method,
        boundary_goes_to=q.decile_boundary_goes_to,
        partial_point_span=q.partial_point_span,
        decile_10_points=q.decile_10_points,
        claims_collection_types=tuple(q.claims_collection_types),
    )
