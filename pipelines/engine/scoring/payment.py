"""Payment adjustment (P1-P4): transformed score, scaling factor solved after clipping, adjustment
factor, dollar impact, and the P3 budget identity over the clipped factors."""
from __future__ import annotations

import numpy as np
import polars as pl

from pipelines.engine.methodology import PaymentParams

KEYS = ["performance_year", "cohort"]
IN_POOL, ZERO_SCORE, NO_FACTOR = "in_pool", "zero_score", "no_factor"
NO_FACTOR_REASON = "P3: final score > 0 but Part B paid <= 0 in the PY: no adjustment factor"


def transformed_score_expr(p: PaymentParams, fs: str = "final_score") -> pl.Expr:
    """P2: T = 1 / (1 + exp(-k (FS - c)))."""
    return 1.0 / (1.0 + (-p.logistic_k * (pl.col(fs) - p.logistic_c)).exp())


def payment_status_expr(fs: str = "final_score", paid: str = "partb_paid") -> pl.Expr:
    """P3: 'zero_score' (FS = 0: factor -r), 'no_factor' (FS > 0 and Part B paid B <= 0 or none: no factor),
    else 'in_pool' (the participants S is solved over)."""
    return (pl.when(pl.col(fs) <= 0).then(pl.lit(ZERO_SCORE))
            .when(pl.col(paid).fill_null(0.0) <= 0).then(pl.lit(NO_FACTOR))
            .otherwise(pl.lit(IN_POOL)))


def unclipped_factor_expr(p: PaymentParams, status: pl.Expr, fs: str = "final_score",
                          scaling: str = "scaling_factor") -> pl.Expr:
    """P3 before clipping: -r for a zero score, r x T(FS) x S - r in the pool, none without a factor."""
    r = p.risk_level
    return (pl.when(status == ZERO_SCORE).then(-r)
            .when(status == IN_POOL).then(r * transformed_score_expr(p, fs) * pl.col(scaling) - r))


def adjustment_factor_expr(p: PaymentParams, fs: str = "final_score", paid: str = "partb_paid",
                           scaling: str = "scaling_factor") -> pl.Expr:
    """P3: the adjustment factor of a final score `fs` (none when `fs` is none) with Part B paid `paid`
    and scaling factor `scaling`: the unclipped factor clipped to [-r, +r]. Projections (V3) price
    their figures with this, on the run's S."""
    r = p.risk_level
    return unclipped_factor_expr(p, payment_status_expr(fs, paid), fs, scaling).clip(-r, r)


def break_even_score_expr(p: PaymentParams, scaling: str = "scaling_factor") -> pl.Expr:
    """P2: the final score whose factor is 0 on scaling factor S: r x T x S = r, i.e. T = 1 / S, so
    FS = c - ln(S - 1) / k. None when S <= 1 (every factor is negative) or when that score is above the
    highest final score (S1's clamp, 100)."""
    s = pl.col(scaling)
    score = p.logistic_c - (s - 1.0).log() / p.logistic_k
    return pl.when((s > 1.0) & (score <= 100.0)).then(score.clip(0.0, None))


def solve_scaling(t: np.ndarray, b: np.ndarray, r: float, payback_share: float) -> float | None:
    """P3: the S >= 0 with sum_i clip(r T_i S - r, -r, r) B_i = -(1 - payback_share) r sum B (closed form).

    For S >= 0 a factor never falls below -r, and it reaches +r at S = 2 / T_i, so the sum is
    piecewise linear and non-decreasing in S. With C the participants clipped at +r (the highest T
    first): r sum_C B + sum_notC (r T S - r) B = target, so
    S = (target + r sum_notC B - r sum_C B) / (r sum_notC T B). Try C = the top-k by T for k = 0, 1, ...
    and keep the first S consistent with C (S >= 2/T on C, S < 2/T off C). k = 0 is the unclipped
    S = payback_share x sum B / sum T B. None for an empty pool (or r = 0)."""
    if len(t) == 0 or r <= 0 or float((t * b).sum()) <= 0:
        return None
    order = np.argsort(-t, kind="stable")
    t, b = t[order], b[order]
    target = -(1.0 - payback_share) * r * b.sum()
    clipped_b = np.concatenate([[0.0], np.cumsum(b)])  # sum_C B for C = top-k
    rest_b = b.sum() - clipped_b
    rest_tb = (t * b).sum() - np.concatenate([[0.0], np.cumsum(t * b)])
    tol = 1e-12  # rounding at a breakpoint S = 2 / T_i (both sides give the same sum there)
    for k in range(len(t)):
        s = (target + r * rest_b[k] - r * clipped_b[k]) / (r * rest_tb[k])
        if s <= 2.0 / t[k] * (1 + tol) and (k == 0 or s >= 2.0 / t[k - 1] * (1 - tol)):
            return float(max(s, 0.0))
    raise AssertionError("P3: no scaling factor found")  # unreachable: with every factor at +r the sum exceeds the target


def _scaling_per_cohort(df: pl.DataFrame, p: PaymentParams) -> pl.DataFrame:
    """(performance_year, cohort, scaling_factor) solved over each cohort's pool."""
    rows = []
    for (year, cohort), g in df.group_by(KEYS, maintain_order=True):
        # sorted on the summed values: float sums in the same order every run (reruns agree to the bit;
        # rows tied on both values add the same numbers whatever their order)
        pool = g.filter(pl.col("payment_status") == IN_POOL).sort(["transformed_score", "partb_paid"])
        s = solve_scaling(pool["transformed_score"].to_numpy(), pool["partb_paid"].to_numpy(), p.risk_level,
                          p.payback_share)
        rows.append((year, cohort, s))
    return pl.DataFrame(rows, schema={"performance_year": df.schema["performance_year"], "cohort": pl.Utf8,
                                      "scaling_factor": pl.Float64}, orient="row")


def payment_adjustments(scores: pl.DataFrame, p: PaymentParams) -> pl.DataFrame:
    """P1-P4 for participants with a final score (scored or failed minimum submission).

    `scores`: performance_year, cohort, tin, npi, final_score, partb_paid (B).
    payment_status: 'in_pool' (FS > 0 and B > 0), 'zero_score' (FS = 0: factor -r), 'no_factor'
    (FS > 0 and B <= 0: no factor, with payment_reason). S solved per cohort so that the withhold holds
    after clipping (`solve_scaling`); unclipped factor = r x T x S - r; adjustment_factor = clip to
    [-r, +r]; dollar_impact = adjustment_factor x B (P4).
    """
    r = p.risk_level
    df = scores.with_columns(
        pl.col("partb_paid").cast(pl.Float64).fill_null(0.0),
        transformed_score_expr(p).alias("transformed_score"),
        pl.lit(r).alias("risk_level"),
        pl.lit(p.payback_share).alias("payback_share"),
    ).with_columns(
        payment_status_expr().alias("payment_status"),
    ).with_columns(
        (pl.col("payment_status") == IN_POOL).alias("in_payment_pool"),
        pl.when(pl.col("payment_status") == NO_FACTOR).then(pl.lit(NO_FACTOR_REASON)).alias("payment_reason"),
    )
    df = df.join(_scaling_per_cohort(df, p), on=KEYS, how="left").with_columns(
        pl.col("partb_paid").filter(pl.col("in_payment_pool")).sort().sum().over(KEYS).alias("pool_paid"))
    return df.with_columns(unclipped_factor_expr(p, pl.col("payment_status")).alias("unclipped_factor")).with_columns(
        pl.col("unclipped_factor").clip(-r, r).alias("adjustment_factor")
    ).with_columns((pl.col("adjustment_factor") * pl.col("partb_paid")).alias("dollar_impact"))


def budget_check(adjustments: pl.DataFrame, p: PaymentParams) -> pl.DataFrame:
    """P3 identity per cohort over the pool (FS > 0, B > 0), on the clipped factors actually paid:
    sum adjustment_factor x B == -(1 - payback_share) x r x sum B, within rounding. Also reports the
    unclipped sum, how many factors were clipped, and the FS = 0 and no-factor participants."""
    pool = adjustments.filter(pl.col("in_payment_pool"))
    r = p.risk_level
    out = pool.group_by(KEYS).agg(
        pl.len().alias("pool_participants"),
        pl.col("partb_paid").sort().sum().alias("pool_paid"),
        (pl.col("adjustment_factor") * pl.col("partb_paid")).sort().sum().alias("sum_factor_x_paid"),
        (pl.col("unclipped_factor") * pl.col("partb_paid")).sort().sum().alias("sum_factor_x_paid_unclipped"),
        (pl.col("unclipped_factor") != pl.col("adjustment_factor")).sum().alias("clipped_participants"),
        pl.col("scaling_factor").first(),
    ).with_columns(
        (-(1.0 - p.payback_share) * r * pl.col("pool_paid")).alias("target"),
    ).with_columns(
        (pl.col("sum_factor_x_paid") - pl.col("target")).alias("difference"),
    ).with_columns(
        (pl.col("difference").abs() <= 1e-6 * pl.max_horizontal(pl.col("pool_paid").abs(), pl.lit(1.0)))
        .alias("identity_holds")
    )
    outside = adjustments.filter(~pl.col("in_payment_pool")).group_by(KEYS).agg(
        (pl.col("payment_status") == ZERO_SCORE).sum().alias("zero_score_participants"),
        pl.col("dollar_impact").filter(pl.col("payment_status") == ZERO_SCORE).sort().sum().alias("zero_score_dollar_impact"),
        (pl.col("payment_status") == NO_FACTOR).sum().alias("no_factor_participants"))
    return out.join(outside, on=KEYS, how="full", coalesce=True).sort(KEYS)
