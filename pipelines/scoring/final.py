"""Final score (S1-S7): IA (S2), PI (S3), complex-patient bonus (S4), small-practice bonus (S5),
minimum submission (S6), no score below the case minimum (S7), weighting and clamp (S1)."""
from __future__ import annotations

import polars as pl

from pipelines.scoring.params import ScoringParams

KEYS = ["performance_year", "cohort"]


def _yes(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.Utf8).str.strip_chars().str.to_uppercase().is_in(["Y", "YES", "1", "TRUE"])


def ia_adjustment_expr(p: ScoringParams) -> pl.Expr:
    """S2: both improvement activities done 0, one -10, neither -20 (answering N to both is an attestation)."""
    done = _yes("ia1_done").cast(pl.Int32) + _yes("ia2_done").cast(pl.Int32)
    return (pl.when(done == 2).then(p.ia_adjustment_both).when(done == 1).then(p.ia_adjustment_one)
            .otherwise(p.ia_adjustment_none)).cast(pl.Float64)


def pi_adjustment_expr(p: ScoringParams, score: str = "pi_score") -> pl.Expr:
    """S3: -(100 - score) / 10 (73 -> -2.7, 100 -> 0); not reported -> -10."""
    s = pl.col(score).cast(pl.Float64)
    return pl.when(s.is_null()).then(p.pi_not_reported).otherwise(-(100.0 - s) / p.pi_divisor)


def small_practice_bonus_expr(p: ScoringParams, count: str = "clinician_count") -> pl.Expr:
    """S5: +15 for 1 clinician in the TIN, +10 for 2-15, else 0."""
    n = pl.col(count)
    return (pl.when(n == 1).then(p.solo_bonus)
            .when((n >= 2) & (n <= p.small_practice_max_clinicians)).then(p.small_practice_bonus)
            .otherwise(0.0)).cast(pl.Float64)


def complex_patient_bonus(pool: pl.DataFrame, p: ScoringParams,
                          indicators: tuple[str, ...] = ("mean_risk_score", "dual_share")) -> pl.DataFrame:
    """S4 over the cohort's peer pool: a participant above the cohort median on at least one indicator
    qualifies; bonus = min(10, 20 x (p - 0.5)), p = its highest percentile rank among the indicators on
    which it is above the median. Percentile rank [DEFAULT] = share of the pool's (non-null) values
    at or below its own. Adds <indicator>_median, <indicator>_pctl and complex_bonus.
    """
    out = pool
    for ind in indicators:
        out = out.with_columns(
            pl.col(ind).median().over(KEYS).alias(f"{ind}_median"),
            (pl.col(ind).rank(method="max").over(KEYS) / pl.col(ind).count().over(KEYS)).alias(f"{ind}_pctl"),
        )
    qualifying = [
        pl.when(pl.col(ind) > pl.col(f"{ind}_median")).then(pl.col(f"{ind}_pctl")).otherwise(None)
        for ind in indicators
    ]
    best = pl.max_horizontal(qualifying)
    return out.with_columns(
        pl.when(best.is_null()).then(0.0)
        .otherwise(pl.min_horizontal(pl.lit(p.complex_bonus_cap), p.complex_bonus_slope * (best - 0.5)))
        .cast(pl.Float64).alias("complex_bonus")
    )


def final_score_expr(p: ScoringParams) -> pl.Expr:
    """S1: 100 x (0.5 quality + 0.5 cost) + IA + PI + complex bonus + small-practice bonus, clamped to [0, 100]."""
    raw = (
        100.0 * (p.quality_weight * pl.col("quality_score") + p.cost_weight * pl.col("cost_score"))
        + pl.col("ia_adjustment") + pl.col("pi_adjustment") + pl.col("complex_bonus")
        + pl.col("small_practice_bonus")
    )
    return raw.clip(p.final_score_min, p.final_score_max)


def final_scores(frame: pl.DataFrame, p: ScoringParams) -> pl.DataFrame:
    """S1, S6, S7 and the status of each participant row.

    `frame` columns: eligible (G1-G3 passed), eligibility_reason, meets_case_minimum (R5),
    has_non_claims_submission (S6), ia_attested (S6), quality_score, cost_score, ia_adjustment,
    pi_adjustment, complex_bonus, small_practice_bonus.
    status: not_eligible (G), below_case_minimum (S7: no score), failed_minimum_submission (S6: 0),
    scored.
    """
    status = (
        pl.when(~pl.col("eligible")).then(pl.lit("not_eligible"))
        .when(~pl.col("meets_case_minimum")).then(pl.lit("below_case_minimum"))
        .when(~(pl.col("has_non_claims_submission") & pl.col("ia_attested"))).then(pl.lit("failed_minimum_submission"))
        .otherwise(pl.lit("scored"))
    )
    out = frame.with_columns(status.alias("status"), final_score_expr(p).alias("_fs"))
    return out.with_columns(
        pl.when(pl.col("status") == "scored").then(pl.col("_fs"))
        .when(pl.col("status") == "failed_minimum_submission").then(0.0)
        .otherwise(None).cast(pl.Float64).alias("final_score"),
        pl.when(pl.col("status") == "failed_minimum_submission").then(
            pl.concat_str([pl.lit("S6:"),
                           pl.when(~pl.col("ia_attested")).then(pl.lit(" no IA attestation")).otherwise(pl.lit("")),
                           pl.when(~pl.col("has_non_claims_submission"))
                           .then(pl.lit(" no non-claims measure meeting Q3")).otherwise(pl.lit(""))]))
        .when(pl.col("status") == "below_case_minimum").then(pl.lit("S7/R5: fewer attributed episodes than the case minimum"))
        .when(pl.col("status") == "not_eligible").then(pl.col("eligibility_reason"))
        .otherwise(None).alias("status_reason"),
    ).drop("_fs")
