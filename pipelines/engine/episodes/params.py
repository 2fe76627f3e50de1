"""Parameters of the episode stage (E1-E6, A1-A3, X1-X2, C1-C4): the typed methodology sections
`episodes`, `attribution` and `costs` (validated there, once), with the code-list folder resolved and
the SQL fragments that render configured orderings and methods."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipelines.engine.methodology import Methodology
from pipelines.engine.qpp import ReferenceFileError, load_cost_averages
from pipelines.engine.reference import resolve_dir

# E2: how each configured tie-break column is written in sql/20_episodes/22_trigger_candidates.sql
# (p = the candidate pair; a missing NPI sorts first).
TIE_BREAK_SQL = {
    "confirming_date": "p.confirming_date",
    "trigger_tin": "p.tin",
    "trigger_npi": "coalesce(p.first_line.npi, '')",
    "trigger_claim_control_number": "p.first_line.claim_control_number",
    "trigger_line_number": "p.first_line.line_number",
    "trigger_claim_id": "p.first_line.claim_id",
}
# C4: the DuckDB quantile function of each configured interpolation.
WINSOR_QUANTILE_SQL = {"linear": "quantile_cont", "discrete": "quantile_disc"}


class EpisodeConfigError(ValueError):
    """A code list or input the episode stage cannot use. str() is the user message."""


@dataclass(frozen=True)
class EpisodeParams:
    """Every parameter of E1-E6, A1-A3, X1-X2 and C1-C4 for one PY."""

    performance_year: int
    code_list_dir: Path
    qualifying_claim_types: tuple[str, ...]
    confirming_window_days: dict[str, int]
    pair_scope: str
    trigger_tie_break: tuple[str, ...]
    episode_days: int
    min_age_years: int
    attribution_basis: str
    attribution_threshold: float
    institutional_claim_types: dict[str, str]
    post_acute_claim_types: tuple[str, ...]
    post_acute_days: int
    betos_category: dict[str, str]
    early_imaging_days: int
    winsor_percentile: float
    winsor_interpolation: str
    # issue 21 item 1: (cohort, CMS cost measure, national average $) and the gate's limits (costs.reference_*)
    cost_reference: tuple[tuple[str, str, float], ...]
    reference_max_factor: float
    reference_check_min_episodes: int

    @property
    def cohorts(self) -> tuple[str, ...]:
        return tuple(self.confirming_window_days)

    @property
    def tie_break_sql(self) -> str:
        return ", ".join(TIE_BREAK_SQL[c] for c in self.trigger_tie_break)

    @property
    def winsor_quantile_sql(self) -> str:
        return WINSOR_QUANTILE_SQL[self.winsor_interpolation]


def episode_params(methodology: Methodology) -> EpisodeParams:
    e, a, c = methodology.episodes, methodology.attribution, methodology.costs
    p = EpisodeParams(
        performance_year=methodology.performance_year,
        code_list_dir=resolve_dir(e.code_list_dir),
        qualifying_claim_types=tuple(e.qualifying_claim_types),
        confirming_window_days=dict(e.confirming_window_days),
        pair_scope=e.pair_scope,
        trigger_tie_break=tuple(e.trigger_tie_break),
        episode_days=e.episode_days,
        min_age_years=e.min_age_years,
        attribution_basis=a.basis,
        attribution_threshold=a.threshold,
        institutional_claim_types=dict(c.institutional_claim_types),
        post_acute_claim_types=tuple(c.post_acute_claim_types),
        post_acute_days=c.post_acute_days,
        betos_category=dict(c.betos_category),
        early_imaging_days=c.early_imaging_days,
        winsor_percentile=c.winsor_percentile,
        winsor_interpolation=c.winsor_interpolation,
        cost_reference=_cost_reference(methodology),
        reference_max_factor=c.reference_max_factor,
        reference_check_min_episodes=c.reference_check_min_episodes,
    )
    if not p.code_list_dir.is_dir():
        raise EpisodeConfigError(f"episodes.code_list_dir not found: {p.code_list_dir}")
    return p


def _cost_reference(methodology: Methodology) -> tuple[tuple[str, str, float], ...]:
    """Issue 21 item 1: each cohort's CMS national average episode cost (projection.cost_averages_file, the
    latest MIPS PY not after the run's, of the cohort's projection.cost_measures measure)."""
    p = methodology.projection
    try:
        averages = load_cost_averages(p.cost_averages_file, methodology.performance_year, p.cost_average_column)
    except ReferenceFileError as exc:
        raise EpisodeConfigError(str(exc)) from None
    by_measure = {r["cost_measure"]: float(r["national_average"]) for r in averages.iter_rows(named=True)}
    return tuple((cohort, measure, by_measure[measure]) for cohort, measure in sorted(p.cost_measures.items())
                 if measure in by_measure)
