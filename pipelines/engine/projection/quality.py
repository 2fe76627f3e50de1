"""V1: projected quality points per measure against CMS's latest published MIPS percentiles.

CMS's percentiles become Q5-shaped decile boundaries (pipelines.engine.scoring.quality.BENCH_KEYS, d1..d9 and
the worst end of decile 1), so Q5's own interpolation (`quality.measure_points`), Q7's best row per measure
(`best_points_per_measure`) and quality score (`participant_quality`) run unchanged on them:
  direct measure:  d_k = p(10k), worst end = p1            (higher is better)
  inverse measure: d_k = p(100 - 10k), worst end = p99     (pK ascends whatever the direction, so the
                   best decile is a rate at or below p10; see data/reference/qpp/README.md)
Rates are compared in CMS's units (percent for percent metric types, so 0.7419 is 74.19) at 1e-9
precision, so a rate equal to a published boundary is on it and belongs to the better decile (Q5).
A measure and collection type without a usable CMS row (none published, or CMS's placeholder
percentiles) keeps the run pool's points, labelled "run pool".
"""
from __future__ import annotations

import polars as pl

from pipelines.engine.methodology import Methodology
from pipelines.engine.qpp import P_COLUMNS
from pipelines.engine.scoring import quality
from pipelines.engine.scoring.params import QualityRules
from pipelines.engine.tables import PARTICIPANT

DIGITS = 9  # comparison precision in CMS units (CMS publishes 2-3 decimals)
SOURCE_CMS, SOURCE_POOL = "CMS", "run pool"


def submission_method(m: Methodology) -> pl.Expr:
    """The CMS submission method of a row (measure_id, collection_type): Part A measures (Q6) are
    CMS's administrative-claims measures; others map by collection type (projection.submission_methods)."""
    p = m.projection
    return (pl.when(pl.col("measure_id").is_in(list(m.quality.part_a_measures))).then(pl.lit(p.computed_measure_method))
            .otherwise(pl.col("collection_type").replace_strict(p.submission_methods, default=None,
                                                                 return_dtype=pl.Utf8)))


def cms_deciles(cms: pl.DataFrame, collection_types: pl.DataFrame, m: Methodology, py: int) -> pl.DataFrame:
    """V1 benchmark per (cohort, measure, collection type) in Q5's shape plus its provenance.

    `cms`: load_quality_benchmarks rows; `collection_types`: the (cohort, measure_id, collection_type) the
    run has. Rows without a usable CMS benchmark keep null boundaries (`usable` false, `reason` says why)."""
    scale = pl.when(pl.col("metric_type").is_in(list(m.projection.percent_metric_types))).then(100.0).otherwise(1.0)
    grid = collection_types.unique().with_columns(submission_method(m).alias("submission_method"))
    joined = grid.join(cms, on=["measure_id", "submission_method"], how="left")
    inv = pl.col("is_inverse")

    def p(k: int) -> pl.Expr:
        return pl.col(f"p{k}")

    usable = p(1).is_not_null() & ~pl.col("placeholder")
    bounds = [pl.when(inv).then(p(100 - 10 * k)).otherwise(p(10 * k)).round(DIGITS).alias(f"d{k}") for k in range(1, 10)]
    reason = (pl.when(pl.col("submission_method").is_null()).then(pl.lit("collection type has no CMS submission method"))
              .when(p(1).is_null()).then(pl.lit("CMS published no benchmark for this measure and submission method"))
              .when(pl.col("placeholder")).then(pl.lit("CMS placeholder percentiles (no historical benchmark)"))
              .otherwise(None))
    return joined.with_columns(
        pl.lit(py, pl.Int64).alias("performance_year"), usable.alias("usable"), reason.alias("reason"),
        pl.when(usable).then(scale).alias("rate_scale"),
        pl.when(inv).then(pl.lit("lower_is_better")).otherwise(pl.lit("higher_is_better")).alias("direction"),
        pl.when(inv).then(p(99)).otherwise(p(1)).round(DIGITS).alias("worst_rate"), *bounds,
    ).with_columns([pl.when(pl.col("usable")).then(pl.col(c)).alias(c) for c in ["worst_rate", *quality.DECILES]]
                   ).select(*quality.BENCH_KEYS, "submission_method", "usable", "reason", "rate_scale", "direction",
                            "is_inverse", "is_topped_out", "metric_type", "cms_performance_year", "benchmark_year",
                            "source_file", "worst_rate", *quality.DECILES, *P_COLUMNS).sort(quality.BENCH_KEYS)


def check_direction(bench: pl.DataFrame, qp: QualityRules) -> list[str]:
    """Measures whose CMS direction differs from quality.lower_is_better (V1 then has no benchmark for them)."""
    rows = bench.filter(pl.col("usable")).select("measure_id", "is_inverse").unique()
    return sorted(r["measure_id"] for r in rows.iter_rows(named=True)
                  if bool(r["is_inverse"]) != (r["measure_id"] in qp.lower_is_better))


def usable_deciles(bench: pl.DataFrame, qp: QualityRules) -> pl.DataFrame:
    """`cms_deciles` with `usable` false also for measures whose CMS direction is not Q5's (`check_direction`)."""
    return bench.with_columns(pl.col("usable") & ~pl.col("measure_id").is_in(check_direction(bench, qp)))


def cms_rate_expr() -> pl.Expr:
    """V1: a row's performance_rate in CMS units (column rate_scale; as is without one) at DIGITS precision."""
    return (pl.col("performance_rate") * pl.col("rate_scale").fill_null(1.0)).round(DIGITS).alias("performance_rate")


def projected_rows(points: pl.DataFrame, bench: pl.DataFrame, qp: QualityRules,
                   by: tuple[str, ...] = (), provenance: bool = True) -> pl.DataFrame:
    """V1 + Q3/Q4 per submitted row of quality_measure_points (participant and TIN-level rows): the row's rate
    in CMS units placed by Q5's interpolation on CMS's boundaries; rows without a CMS benchmark keep the
    pool's points (`source`). `by`: extra key columns of `points` kept on the rows (V3: the draw);
    `provenance` false: points only, no decile or zero reason (V3's many draws, `quality.measure_points`)."""
    bench = usable_deciles(bench, qp)
    pool = ["points", *(["decile", "zero_reason"] if provenance else [])]
    flags = [c for c in quality.RATE_FREE_FLAGS if c in points.columns]
    rows = points.join(bench.select(*quality.BENCH_KEYS, "usable", "rate_scale"), on=quality.BENCH_KEYS, how="left")
    rates = quality.reclassify_rates(rows.select(
        *quality.BENCH_KEYS, *by, "tin", "npi", "cases", "data_completeness", cms_rate_expr(),
        *flags, "usable", *[pl.col(c).alias(f"pool_{c}") for c in pool]), qp)
    cms_bench = bench.filter(pl.col("usable")).select(*quality.BENCH_KEYS, pl.lit(0).alias("participants"),
                                                       "direction", "worst_rate", *quality.DECILES)
    scored = quality.measure_points(rates, cms_bench, qp, provenance=provenance)
    fallback = pl.col("usable").fill_null(False).not_()
    return scored.with_columns(
        *[pl.when(fallback).then(pl.col(f"pool_{c}")).otherwise(pl.col(c)).alias(c) for c in pool],
        pl.when(fallback).then(pl.lit(SOURCE_POOL)).otherwise(pl.lit(SOURCE_CMS)).alias("source"),
    ).drop(*[f"pool_{c}" for c in pool], "usable")


def projected_quality(participants: pl.DataFrame, points: pl.DataFrame, bench: pl.DataFrame, qp: QualityRules,
                      part_a_measures: tuple[str, ...], part_a_supplied: bool) -> tuple[pl.DataFrame, pl.DataFrame]:
    """V1 per participant: (per required measure: projected points and the row that gave them, Q7 as in
    scoring; per participant: projected quality points and score)."""
    rows = projected_rows(points, bench, qp)
    best = quality.best_points_per_measure(participants, rows, qp)
    per_measure = quality.measure_breakdown(participants, best, qp, part_a_measures, part_a_supplied)
    info = bench.select("cohort", "measure_id", "collection_type", "submission_method", "usable", "reason",
                        "rate_scale", "is_topped_out", "cms_performance_year", "benchmark_year", "source_file")
    per_measure = per_measure.join(info, on=["cohort", "measure_id", "collection_type"], how="left").with_columns(
        pl.when(pl.col("collection_type").is_null()).then(None)
        .when(pl.col("usable").fill_null(False) & ~pl.col("measure_id").is_in(check_direction(bench, qp)))
        .then(pl.lit(SOURCE_CMS)).otherwise(pl.lit(SOURCE_POOL)).alias("source"))
    score = quality.participant_quality(participants, best, qp).select(
        *PARTICIPANT, pl.col("quality_points").alias("projected_quality_points"),
        pl.col("quality_score").alias("projected_quality_score"))
    return per_measure, score
