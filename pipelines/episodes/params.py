"""Parameters of the episode stage (E1-E6, A1-A3, X1-X2, C1-C4), from the methodology configuration."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipelines.methodology import Methodology
from pipelines.reference import SERVICE_CATEGORIES, resolve_dir

PAIR_SCOPES = ("npi", "tin")
ATTRIBUTION_BASES = ("qualifying_lines", "assigned_lines", "assigned_allowed")


class EpisodeConfigError(ValueError):
    """A methodology parameter or code list the episode stage cannot use. str() is the user message."""


@dataclass(frozen=True)
class EpisodeParams:
    """Every parameter of E1-E6, A1-A3, X1-X2 and C1-C4, from the methodology configuration."""

    performance_year: int
    code_list_dir: Path
    qualifying_claim_types: tuple[str, ...]
    confirming_window_days: dict[str, int]
    pair_scope: str
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

    @property
    def cohorts(self) -> tuple[str, ...]:
        return tuple(self.confirming_window_days)


def episode_params(methodology: Methodology) -> EpisodeParams:
    g = methodology.get
    p = EpisodeParams(
        performance_year=methodology.performance_year,
        code_list_dir=resolve_dir(g("episodes.code_list_dir")),
        qualifying_claim_types=tuple(str(x) for x in g("episodes.qualifying_claim_types")),
        confirming_window_days={str(k).upper(): int(v) for k, v in g("episodes.confirming_window_days").items()},
        pair_scope=str(g("episodes.pair_scope")).lower(),
        episode_days=int(g("episodes.episode_days")),
        min_age_years=int(g("episodes.min_age_years")),
        attribution_basis=str(g("attribution.basis")).lower(),
        attribution_threshold=float(g("attribution.threshold")),
        institutional_claim_types={str(k): str(v) for k, v in g("costs.institutional_claim_types").items()},
        post_acute_claim_types=tuple(str(x) for x in g("costs.post_acute_claim_types")),
        post_acute_days=int(g("costs.post_acute_days")),
        betos_category={str(k).upper(): str(v) for k, v in g("costs.betos_category").items()},
        early_imaging_days=int(g("costs.early_imaging_days")),
        winsor_percentile=float(g("costs.winsor_percentile")),
    )
    problems = []
    if p.pair_scope not in PAIR_SCOPES:
        problems.append(f"episodes.pair_scope must be one of {PAIR_SCOPES}, not '{p.pair_scope}'")
    if p.attribution_basis not in ATTRIBUTION_BASES:
        problems.append(f"attribution.basis must be one of {ATTRIBUTION_BASES}, not '{p.attribution_basis}'")
    if not 0 < p.attribution_threshold <= 1:
        problems.append(f"attribution.threshold must be in (0, 1], not {p.attribution_threshold}")
    if not 0 < p.winsor_percentile <= 1:
        problems.append(f"costs.winsor_percentile must be in (0, 1], not {p.winsor_percentile}")
    if p.episode_days < 1 or any(v < 1 for v in p.confirming_window_days.values()):
        problems.append("episodes.episode_days and episodes.confirming_window_days must be >= 1")
    bad = sorted((set(p.betos_category.values()) | set(p.institutional_claim_types.values())) - set(SERVICE_CATEGORIES))
    if bad:
        problems.append(f"unknown service categories {bad} (known: {', '.join(SERVICE_CATEGORIES)})")
    if not p.code_list_dir.is_dir():
        problems.append(f"episodes.code_list_dir not found: {p.code_list_dir}")
    if problems:
        raise EpisodeConfigError("; ".join(problems))
    return p
