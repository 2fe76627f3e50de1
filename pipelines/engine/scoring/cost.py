"""Cost measure score (R4, R5), cost benchmarks (B1-B3) and cost points / category score (B3, B4)."""
from __future__ import annotations

import polars as pl

from pipelines.engine.methodology import BenchmarkParams
from pipelines.engine.tables import PARTICIPANT

KEYS = ["performance_year", "cohort"]
THRESHOLDS = [f"t{k}" for k in range(1, 11)]


def cohort_mean_cost(episodes: pl.DataFrame) -> pl.DataFrame:
    """R4: the cohort's mean observed (winsorized, C4) cost over its scored episodes.

    `episodes`: one row per closed, non-excluded episode with performance_year, cohort, observed_cost.
    """
    return episodes.group_by(KEYS).agg(
        pl.len().alias("cohort_episodes"), pl.col("observed_cost").sort().mean().alias("cohort_mean_cost")
    )


def cost_measure_scores(attributed: pl.DataFrame, cohort_means: pl.DataFrame, p: BenchmarkParams) -> pl.DataFrame:
    """R4 + R5: per participant, cohort and PY.

    `attributed`: one row per (attributed participant, closed non-excluded episode) with
    performance_year, cohort, tin, npi, observed_cost (winsorized), expected_cost.
    measure_score = (sum observed / sum expected) x cohort mean observed cost (lower is better);
    scored = episodes >= case_minimum (R5).
    """
    out = (
        attributed.group_by(PARTICIPANT)
        .agg(
            pl.len().alias("episodes"),
            pl.col("observed_cost").sort().sum().alias("observed_cost"),
            pl.col("expected_cost").sort().sum().alias("expected_cost"),
        )
        .join(cohort_means.select([*KEYS, "cohort_mean_cost"]), on=KEYS, how="left")
        .with_columns(
            (pl.col("observed_cost") / pl.col("expected_cost")).alias("oe_ratio"),
        )
        .with_columns(
            measure_score_expr(pl.col("observed_cost"), pl.col("expected_cost"), pl.col("cohort_mean_cost"))
            .alias("measure_score"),
            (pl.col("episodes") >= p.case_minimum).alias("scored"),  # R5
        )
    )
    return out.sort(PARTICIPANT)


def measure_score_expr(observed: pl.Expr, expected: pl.Expr, cohort_mean: pl.Expr) -> pl.Expr:
    """R4: (sum observed / sum expected) x cohort mean observed cost, from the two sums. Scoring and the
    V3 bootstrap (sums over resampled episodes) both compute the measure score with this."""
    return observed / expected * cohort_mean


def cost_benchmarks(pool: pl.DataFrame, p: BenchmarkParams, by: tuple[str, ...] = ()) -> pl.DataFrame:
    """B1-B3: per cohort and PY over the peer pool's measure scores: median m, sample SD sigma (n-1),
    thresholds T1..T10 = m + multiple_k x sigma (multiples from the configuration).

    `pool`: the participants that are in the peer pool (B1: eligible and meeting R5); `by`: extra key
    columns (V3: the bootstrap draw of a resampled pool), one set of benchmarks per value.
    """
    agg = pool.group_by([*KEYS, *by]).agg(
        pl.len().alias("participants"),
        pl.col("measure_score").median().alias("median"),
        pl.col("measure_score").sort().std(ddof=1).alias("sd"),  # B2: sample SD; null for a pool of 1
    )
    return agg.with_columns(threshold_exprs(pl.col("median"), pl.col("sd"), p)).sort([*KEYS, *by])


def threshold_exprs(median: pl.Expr, sd: pl.Expr, p: BenchmarkParams) -> list[pl.Expr]:
    """B3: T1..T10 = median + multiple_k x sd (an undefined sd counts as 0), as columns t1..t10. The pool's
    benchmarks (B2) and the projection's reference distribution (V2) both place thresholds with this."""
    return [(median + mult * sd.fill_null(0.0)).alias(name) for name, mult in zip(THRESHOLDS, p.threshold_sd_multiples)]


def small_pool_expr(pool_size: pl.Expr, p: BenchmarkParams) -> pl.Expr:
    """B1: a peer pool with fewer than `small_pool_participants` members is small: its benchmarks are
    unstable (reports say so; V2 takes its spread from the configured CV; V4 leads with the projection)."""
    return pool_size.fill_null(0) < p.small_pool_participants


def cost_points_expr(p: BenchmarkParams, score: str = "measure_score") -> pl.Expr:
    """B3: points for a cost measure score c against thresholds t1..t10 (columns).

    c > T1 -> points_above_t1 (1.0); c <= T10 -> points_at_or_below_t10 (10.0);
    T(k+1) < c <= T(k) -> k + 0.9 x (T(k) - c) / (T(k) - T(k+1)).
    [DEFAULT] sigma = 0 or undefined: c = m -> 6.0 (the median's points), c > m -> 1.0, c < m -> 10.0
    (benchmarks.degenerate_*_points).
    """
    c = pl.col(score)
    t = [pl.col(x) for x in THRESHOLDS]
    m = pl.col("median")
    degenerate = pl.col("sd").is_null() | (pl.col("sd") == 0)
    expr = (
        pl.when(c.is_null() | m.is_null()).then(None)
        .when(degenerate & (c == m)).then(pl.lit(p.degenerate_median_points))
        .when(degenerate & (c > m)).then(pl.lit(p.degenerate_above_median_points))
        .when(degenerate).then(pl.lit(p.degenerate_below_median_points))
        .when(c > t[0]).then(pl.lit(p.points_above_t1))
        .when(c <= t[9]).then(pl.lit(p.points_at_or_below_t10))
    )
    for k in range(1, 10):  # k = 1..9: T(k+1) < c <= T(k)
        hi, lo = t[k - 1], t[k]
        expr = expr.when((c <= hi) & (c > lo)).then(k + p.partial_point_span * (hi - c) / (hi - lo))
    return expr.otherwise(None).cast(pl.Float64)


def cost_points(scores: pl.DataFrame, benchmarks: pl.DataFrame, p: BenchmarkParams) -> pl.DataFrame:
    """B3 + B4: adds cost_points (1..10) and cost_score (= points / 10) to the scored rows."""
    joined = scores.join(benchmarks.select([*KEYS, "median", "sd", *THRESHOLDS]), on=KEYS, how="left")
    return joined.with_columns(cost_points_expr(p).alias("cost_points")).with_columns(
        (pl.col("cost_points") / 10.0).alias("cost_score")  # B4
    ).drop(["median", "sd", *THRESHOLDS])
