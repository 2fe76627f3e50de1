"""V3: intervals from a seeded bootstrap over the peer pool and over the participant's own episodes.

Each draw b resamples, with replacement,
  - the cohort's peer pool (the B1 members' cost measure scores) -> pool median_b and SD_b (B2), and
  - the participant's own attributed scored episodes -> its cost measure score_b (R4: sum observed /
    sum expected x cohort mean cost);
then scores the participant as the run does: pool-based cost points by B3 on median_b + multiple x SD_b,
projected cost points by B3 on the V2 distribution (national average + multiple x SD_b when the pool meets
the small-pool limit, else the fixed DEFAULT spread), final score by S1 with the participant's own quality
score, IA, PI and bonuses (held at their values: quality rates come from submitted counts, not episodes),
and the payment factor by P2/P3 with the run's scaling factor S. The interval is the central
`interval_level` of the draws. Seeds derive from projection.seed and the participant's key, so a
participant's interval does not depend on which other participants are in the run's output.
"""
from __future__ import annotations

import zlib

import numpy as np
import polars as pl

from pipelines.engine.methodology import Methodology
from pipelines.engine.projection.cost import SPREAD_POOL
from pipelines.engine.scoring import cost, final, payment
from pipelines.engine.tables import PARTICIPANT



def _rng(seed: int, *parts: str) -> np.random.Generator:
    return np.random.default_rng([seed, *(zlib.crc32(p.encode()) for p in parts)])


def pool_draws(pool_scores: np.ndarray, draws: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """B2 over resampled pools: (median_b, SD_b) per draw; SD is NaN for a pool of one."""
    n = len(pool_scores)
    if n == 0:
        return np.full(draws, np.nan), np.full(draws, np.nan)
    sample = pool_scores[rng.integers(0, n, size=(draws, n))]
    sd = sample.std(axis=1, ddof=1) if n > 1 else np.full(draws, np.nan)
    return np.median(sample, axis=1), sd


def own_draws(observed: np.ndarray, expected: np.ndarray, cohort_mean: float, draws: int,
              rng: np.random.Generator) -> np.ndarray:
    """R4 over resampled own episodes: (sum observed / sum expected) x cohort mean, per draw."""
    k = len(observed)
    idx = rng.integers(0, k, size=(draws, k))
    return observed[idx].sum(axis=1) / expected[idx].sum(axis=1) * cohort_mean


def draw_frame(participants: pl.DataFrame, episodes: pl.DataFrame, pool: pl.DataFrame, reference: pl.DataFrame,
               m: Methodology) -> pl.DataFrame:
    """One row per (participant, draw): measure_score, pool median/SD and the V2 spread of that draw.

    `participants`: PARTICIPANT + cohort_mean_cost (the participants to project); `episodes`: PARTICIPANT + observed_cost,
    expected_cost (their attributed scored episodes); `pool`: cohort + measure_score (B1 members);
    `reference`: V2 rows (cohort, spread_source, sd)."""
    p = m.projection
    n = p.bootstrap_draws
    parts = []
    ref = {r["cohort"]: r for r in reference.iter_rows(named=True)}
    by_participant = {k: g for k, g in episodes.group_by(PARTICIPANT, maintain_order=True)}
    for cohort, rows in participants.group_by("cohort", maintain_order=True):
        cohort = cohort[0]
        scores = pool.filter(pl.col("cohort") == cohort)["measure_score"].drop_nulls().to_numpy()
        med, sd = pool_draws(np.sort(scores), n, _rng(p.seed, "pool", cohort))
        r = ref.get(cohort, {})
        spread = sd if r.get("spread_source") == SPREAD_POOL else np.full(n, r.get("sd") or np.nan)
        for row in rows.iter_rows(named=True):
            key = tuple(row[k] for k in PARTICIPANT)
            eps = by_participant.get(key)
            if eps is None or eps.height == 0:
                continue
            own = own_draws(eps["observed_cost"].to_numpy(), eps["expected_cost"].to_numpy(),
                            row["cohort_mean_cost"], n, _rng(p.seed, "own", *map(str, key)))
            parts.append(pl.DataFrame({
                **{k: [row[k]] * n for k in PARTICIPANT}, "draw": np.arange(n), "measure_score": own,
                "pool_median": med, "pool_sd": sd, "projected_sd": spread}))
    if not parts:
        return pl.DataFrame(schema={**{k: participants.schema[k] for k in PARTICIPANT}, "draw": pl.Int64,
                                    "measure_score": pl.Float64, "pool_median": pl.Float64, "pool_sd": pl.Float64,
                                    "projected_sd": pl.Float64})
    return pl.concat(parts).with_columns(pl.col(c).fill_nan(None) for c in ("pool_sd", "projected_sd", "pool_median"))


def score_draws(draws: pl.DataFrame, participants: pl.DataFrame, reference: pl.DataFrame,
                scaling: pl.DataFrame, m: Methodology) -> pl.DataFrame:
    """B3, S1, P2/P3 on every draw, for both figures (pool_*, projected_*)."""
    sp, pp = m.scoring, m.payment
    base = draws.join(participants, on=PARTICIPANT, how="left").join(
        reference.select("cohort", pl.col("median").alias("national_average")), on="cohort", how="left").join(
        scaling, on="cohort", how="left")
    out = base
    for prefix, median, sd in (("pool", "pool_median", "pool_sd"), ("projected", "national_average", "projected_sd")):
        out = out.with_columns(pl.col(median).alias("median"), pl.col(sd).alias("sd")).with_columns(
            *cost.threshold_exprs(pl.col("median"), pl.col("sd"), m.benchmarks)).with_columns(
            cost.cost_points_expr(m.benchmarks).alias(f"{prefix}_cost_points"))
        out = out.with_columns(
            (pl.col(f"{prefix}_cost_points") / 10.0).alias("cost_score"),
            pl.col(f"{prefix}_quality_score").alias("quality_score")).with_columns(
            final.final_score_expr(sp).alias(f"{prefix}_final_score"))
        out = out.with_columns(factor_expr(f"{prefix}_final_score", pp).alias(f"{prefix}_factor"))
    return out.select(*PARTICIPANT, "draw", "measure_score", "pool_cost_points", "pool_final_score", "pool_factor",
                      "projected_cost_points", "projected_final_score", "projected_factor")


def factor_expr(fs: str, pp) -> pl.Expr:
    """V3: P3's adjustment factor of final score `fs` with the run's scaling factor S (column `scaling_factor`)
    and the participant's Part B paid (`partb_paid`); no S in the run, or no final score -> null."""
    return payment.adjustment_factor_expr(pp, fs)


def summarise(scored: pl.DataFrame, level: float) -> pl.DataFrame:
    """Central `level` interval (low, high) of each figure over the draws."""
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    figures = ["measure_score", "pool_cost_points", "pool_final_score", "pool_factor", "projected_cost_points",
               "projected_final_score", "projected_factor"]
    return scored.group_by(PARTICIPANT).agg(
        *[pl.col(f).quantile(lo, interpolation="linear").alias(f"{f}_low") for f in figures],
        *[pl.col(f).quantile(hi, interpolation="linear").alias(f"{f}_high") for f in figures],
        pl.len().alias("draws"))
