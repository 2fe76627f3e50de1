"""Payment adjustment (P1-P4): transformed score, scaling factor, adjustment factor, dollar impact,
and the budget identity of P3 (sum factor x B = -(1 - 0.85) x r x sum B before clipping)."""
from __future__ import annotations

import polars as pl

from pipelines.methodology import PaymentParams

KEYS = ["performance_year", "cohort"]


def transformed_score_expr(p: PaymentParams, fs: str = "final_score") -> pl.Expr:
    """P2: T = 1 / (1 + exp(-k (FS - c)))."""
    return 1.0 / (1.0 + (-p.logistic_k * (pl.col(fs) - p.logistic_c)).exp())


def payment_adjustments(scores: pl.DataFrame, p: PaymentParams) -> pl.DataFrame:
    """P1-P4 for participants with a final score (scored or failed minimum submission).

    `scores`: performance_year, cohort, tin, npi, final_score, partb_paid (B).
    Pool (P3) per cohort: FS > 0 and B > 0. S = 0.85 x sum B / sum (T x B).
    unclipped factor = r x T x S - r (pool); FS = 0 -> -r. adjustment_factor = clip to [-r, +r].
    dollar_impact = adjustment_factor x B (P4).
    """
    r = p.risk_level
    df = scores.with_columns(
        pl.col("partb_paid").cast(pl.Float64).fill_null(0.0),
        transformed_score_expr(p).alias("transformed_score"),
        pl.lit(r).alias("risk_level"),
    ).with_columns(((pl.col("final_score") > 0) & (pl.col("partb_paid") > 0)).alias("in_payment_pool"))
    b, t = pl.col("partb_paid"), pl.col("transformed_score")
    pool_b = pl.when(pl.col("in_payment_pool")).then(b).otherwise(0.0)
    pool_tb = pl.when(pl.col("in_payment_pool")).then(t * b).otherwise(0.0)
    df = df.with_columns(
        pl.when(pool_tb.sort().sum().over(KEYS) > 0)
        .then(p.payback_share * pool_b.sort().sum().over(KEYS) / pool_tb.sort().sum().over(KEYS))
        .otherwise(None).alias("scaling_factor")
    )
    unclipped = (
        pl.when(pl.col("final_score") <= 0).then(-r)
        .otherwise(r * t * pl.col("scaling_factor") - r)  # B = 0 outside the pool: no dollar weight
    )
    return df.with_columns(unclipped.alias("unclipped_factor")).with_columns(
        pl.col("unclipped_factor").clip(-r, r).alias("adjustment_factor")
    ).with_columns((pl.col("adjustment_factor") * b).alias("dollar_impact"))


def budget_check(adjustments: pl.DataFrame, p: PaymentParams) -> pl.DataFrame:
    """P3 identity per cohort, over the pool (FS > 0, B > 0), before clipping:
    sum unclipped factor x B == -(1 - payback_share) x r x sum B, within rounding.
    Also reports the same sum after clipping and the FS = 0 participants' total."""
    pool = adjustments.filter(pl.col("in_payment_pool"))
    r = p.risk_level
    out = pool.group_by(KEYS).agg(
        pl.len().alias("pool_participants"),
        pl.col("partb_paid").sort().sum().alias("pool_paid"),
        (pl.col("unclipped_factor") * pl.col("partb_paid")).sort().sum().alias("sum_factor_x_paid_unclipped"),
        (pl.col("adjustment_factor") * pl.col("partb_paid")).sort().sum().alias("sum_factor_x_paid_clipped"),
        pl.col("scaling_factor").first(),
    ).with_columns(
        (-(1.0 - p.payback_share) * r * pl.col("pool_paid")).alias("target"),
    ).with_columns(
        (pl.col("sum_factor_x_paid_unclipped") - pl.col("target")).alias("difference"),
    ).with_columns(
        (pl.col("difference").abs() <= 1e-6 * pl.max_horizontal(pl.col("pool_paid").abs(), pl.lit(1.0)))
        .alias("identity_holds")
    )
    zero = adjustments.filter(pl.col("final_score") <= 0).group_by(KEYS).agg(
        pl.len().alias("zero_score_participants"), pl.col("dollar_impact").sort().sum().alias("zero_score_dollar_impact"))
    return out.join(zero, on=KEYS, how="full", coalesce=True).sort(KEYS)
