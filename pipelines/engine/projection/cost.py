"""V2: the reference distribution a participant's cost measure score (R4) is placed on before the national
pool exists: centred on CMS's latest national average cost of the cohort's MIPS cost measure, turned from a
mean into a median (B3's m = national average x the pool's median / mean ratio when the pool has at least
benchmarks.small_pool_participants members (B1), else the configured DEFAULT ratio), with the run's
peer-pool SD when the pool is at the limit, else the configured DEFAULT coefficient of variation x the
national average. Thresholds T1..T10 = centre +
multiple_k x spread (B3's multiples) and points by B3 (`pipelines.engine.scoring.cost.cost_points_expr`)."""
from __future__ import annotations

import polars as pl

from pipelines.engine.methodology import Methodology
from pipelines.engine.scoring.cost import KEYS, small_pool_expr, threshold_exprs

SPREAD_POOL, SPREAD_CV = "run pool", "DEFAULT coefficient of variation"
RATIO_POOL, RATIO_DEFAULT = "run pool", "DEFAULT ratio"


def pool_median_mean(scores: pl.DataFrame) -> pl.DataFrame:
    """Per PY and cohort: the B1 pool's mean cost measure score (participant_scores rows with cost points).
    The scores are summed in ascending order: a float sum depends on its order, and the order in which a group's
    rows reach the sum varied between runs (the last bits of every projected cost figure moved from run to run)."""
    return scores.filter(pl.col("cost_points").is_not_null()).group_by(
        pl.col("performance_year").cast(pl.Int64), "cohort").agg(
        pl.col("measure_score").sort().mean().alias("pool_mean"))


def reference_distribution(pool_benchmarks: pl.DataFrame, averages: pl.DataFrame, cohorts: list[str],
                           m: Methodology, py: int, pool_means: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per cohort: centre (national average x median/mean ratio) and spread with their sources, t1..t10.

    `pool_benchmarks`: cost_benchmarks (participants, median, sd); `averages`: load_cost_averages rows;
    `pool_means`: pool_median_mean (absent: the DEFAULT ratio)."""
    p = m.projection
    frame = pl.DataFrame({"performance_year": [py] * len(cohorts), "cohort": cohorts},
                         schema={"performance_year": pl.Int64, "cohort": pl.Utf8})
    frame = frame.with_columns(pl.col("cohort").replace_strict(p.cost_measures, default=None).alias("cost_measure"))
    pool = pool_benchmarks.select(pl.col("performance_year").cast(pl.Int64), "cohort",
                                  pl.col("participants").cast(pl.Int64).alias("pool_participants"),
                                  pl.col("median").alias("pool_median"), pl.col("sd").alias("pool_sd"))
    if pool_means is None:
        pool_means = pl.DataFrame(schema={"performance_year": pl.Int64, "cohort": pl.Utf8, "pool_mean": pl.Float64})
    big = ~small_pool_expr(pl.col("pool_participants"), m.benchmarks) & pl.col("pool_sd").is_not_null()
    own_ratio = big & (pl.col("pool_mean") > 0) & pl.col("pool_median").is_not_null()
    out = (frame.join(averages, on="cost_measure", how="left").join(pool, on=KEYS, how="left")
           .join(pool_means, on=KEYS, how="left")
           .with_columns(pl.col("pool_participants").fill_null(0),
                         pl.when(own_ratio).then(pl.col("pool_median") / pl.col("pool_mean"))
                         .otherwise(pl.lit(p.default_median_mean_ratio)).alias("median_mean_ratio"),
                         pl.when(own_ratio).then(pl.lit(RATIO_POOL)).otherwise(pl.lit(RATIO_DEFAULT))
                         .alias("median_mean_ratio_source"))
           .with_columns((pl.col("national_average") * pl.col("median_mean_ratio")).alias("median"),
                         pl.when(big).then(pl.lit(SPREAD_POOL)).otherwise(pl.lit(SPREAD_CV)).alias("spread_source"),
                         pl.when(big).then(pl.col("pool_sd")).otherwise(p.default_cost_cv * pl.col("national_average"))
                         .alias("sd")))
    return out.drop("pool_median", "pool_mean").with_columns(
        *threshold_exprs(pl.col("median"), pl.col("sd"), m.benchmarks)).sort(KEYS)


def spread_label(row: dict, m: Methodology) -> str:
    """Words for the spread's source (reports and metadata)."""
    if row["spread_source"] == SPREAD_POOL:
        return f"run pool SD ({row['pool_participants']} participants)"
    return (f"DEFAULT coefficient of variation {m.projection.default_cost_cv:g} x national average (pool of "
            f"{row['pool_participants']} < {m.benchmarks.small_pool_participants})")
