"""Summary tables for reports and users: every figure a report shows is a column of a final table
written here or by the rule modules; the report renderer computes nothing.

  score_distribution    cohort x PY x metric: quantiles over the run's participants (no ids)
  tin_summary           TIN x cohort x PY: participants by status, Part B paid, dollar impact, pool
  tin_cost_drivers      TIN x cohort x PY x item: C3 cost by service category and driver counts of the
                        TIN's attributed scored episodes, next to the cohort's
  cohort_summary        cohort x PY: pool size and flag (B1), scored episodes and mean cost, cost basis
                        (N5), Part A / Q492 status (Q6), measures not scored (Q1)
  cohort_cost_drivers   cohort x PY x item: the same C3 figures over every scored episode
"""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from pipelines.engine.methodology import BenchmarkParams
from pipelines.engine.reference import COST_DRIVERS, SERVICE_CATEGORIES
from pipelines.engine.scoring import payment
from pipelines.engine.scoring.cost import small_pool_expr
from pipelines.engine.scoring.inputs import read_table
from pipelines.engine.settings import RunSettings
from pipelines.engine.warehouse import scan_frame

DISTRIBUTION_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
STATUSES = ("scored", "failed_minimum_submission", "below_case_minimum", "not_eligible")


@dataclass(frozen=True)
class RunFacts:
    performance_year: int
    part_a: bool  # Q6: Part A supplied, Q492 computed
    benchmarks: BenchmarkParams  # B1: the small-pool limit
    not_scored_measures: tuple[str, ...]
    part_a_measures: tuple[str, ...]
    cost_basis: str  # N5
    required_measures: dict[str, tuple[str, ...]]


def cost_basis(settings: RunSettings) -> str:
    """N5: the cost basis of the run's lines, as partb_lines labels them (one home: ingest)."""
    labels = scan_frame(settings.read_path("partb_lines")).select(pl.col("cost_basis").unique().sort()).collect()["cost_basis"].drop_nulls()
    return " / ".join(labels.to_list()) or "no lines"


def score_distribution(scores: pl.DataFrame, pay: pl.DataFrame) -> pl.DataFrame:
    """Per cohort, PY and metric: n, mean, min, p10, p25, median, p75, p90, max (no participant ids).
    measure_score and cost_points over the peer pool (participants with cost points); quality and
    final scores over participants with a final score; adjustment factors over payment rows."""
    specs = [("measure_score", scores.filter(pl.col("cost_points").is_not_null())),
             ("cost_points", scores), ("quality_score", scores.filter(pl.col("final_score").is_not_null())),
             ("final_score", scores), ("adjustment_factor", pay), ("dollar_impact", pay)]
    parts = []
    for metric, df in specs:
        v = pl.col(metric)
        parts.append(df.filter(v.is_not_null()).group_by("performance_year", "cohort").agg(
            pl.lit(metric).alias("metric"), pl.len().alias("n"), v.sort().mean().alias("mean"), v.min().alias("min"),
            *[v.quantile(q, interpolation="linear").alias(f"p{int(q * 100)}") for q in DISTRIBUTION_QUANTILES],
            v.max().alias("max")))
    status = scores.group_by("performance_year", "cohort", "status").len().select(
        "performance_year", "cohort", pl.concat_str([pl.lit("status:"), pl.col("status")]).alias("metric"),
        pl.col("len").alias("n"))
    return pl.concat([*parts, status], how="diagonal_relaxed").sort("performance_year", "cohort", "metric")


def _pool_sizes(bench: pl.DataFrame, facts: RunFacts) -> pl.DataFrame:
    return bench.select("performance_year", "cohort", pl.col("participants").alias("peer_pool_size")).with_columns(
        small_pool_expr(pl.col("peer_pool_size"), facts.benchmarks).alias("small_pool"))


def _q492_status(facts: RunFacts) -> str:
    if not facts.part_a_measures:
        return "none"
    return "computed from Part A claims (Q6)" if facts.part_a else "not scored: the run has no Part A claims (Q6)"


def tin_summary(scores: pl.DataFrame, pay: pl.DataFrame, bench: pl.DataFrame, facts: RunFacts) -> pl.DataFrame:
    """Per TIN, cohort and PY: participant rows by status, Part B paid and dollar impact (P4) of the
    participants with a payment row, the cohort's peer-pool size and small-pool flag (B1)."""
    keys = ["performance_year", "tin", "cohort"]
    by_status = scores.group_by(keys).agg(
        pl.len().alias("participants"),
        *[(pl.col("status") == s).sum().alias(s) for s in STATUSES],
        pl.col("final_score").sort().mean().alias("mean_final_score"))
    money = pay.group_by(keys).agg(pl.col("partb_paid").sort().sum().alias("partb_paid"),
                                   pl.col("dollar_impact").sort().sum().alias("dollar_impact"))
    return (by_status.join(money, on=keys, how="left")
            .join(_pool_sizes(bench, facts), on=["performance_year", "cohort"], how="left")
            .with_columns(pl.col("peer_pool_size").fill_null(0), pl.col("small_pool").fill_null(True),
                          pl.lit(facts.cost_basis).alias("cost_basis"), pl.lit(_q492_status(facts)).alias("q492"))
            .sort(keys))


@dataclass(frozen=True)
class CostDrivers:
    by_tin: pl.DataFrame
    by_cohort: pl.DataFrame
    by_clinician: pl.DataFrame


def _driver_items(totals: pl.DataFrame, group: list[str]) -> pl.DataFrame:
    """Long form of per-group totals: one row per C3 service category (amount = cost, share of the
    group's cost, per episode) and per driver of the group's cohort (amount = episodes with it,
    share of episodes)."""
    n, total = pl.col("episodes"), pl.col("observed_cost")
    cats = [totals.select(*group, "episodes", "observed_cost", pl.lit("service_category").alias("kind"),
                          pl.lit(c).alias("item"), pl.lit(label).alias("label"), pl.col(f"cost_{c}").alias("amount"))
            .with_columns(pl.when(total > 0).then(pl.col("amount") / total).alias("share"),
                          pl.when(n > 0).then(pl.col("amount") / n).alias("per_episode"))
            for c, label in SERVICE_CATEGORIES.items()]
    drivers = [totals.filter(pl.col("cohort").is_not_null() if cohort is None else pl.col("cohort") == cohort).select(
        *group, "episodes", "observed_cost", pl.lit("driver").alias("kind"), pl.lit(d).alias("item"),
        pl.lit(label).alias("label"), pl.col(d).cast(pl.Float64).alias("amount"))
        .with_columns(pl.when(n > 0).then(pl.col("amount") / n).alias("share"), pl.lit(None, pl.Float64).alias("per_episode"))
        for d, (label, cohort) in COST_DRIVERS.items()]
    return pl.concat([*cats, *drivers], how="vertical_relaxed")


def cost_drivers(settings: RunSettings, scored: pl.DataFrame) -> CostDrivers:
    """C3 over the PY's scored episodes (`scored`: episode_id): per TIN and cohort over the TIN's
    attributed episodes (each counted once per TIN), and per cohort. Drivers count episodes with it."""
    costs = read_table(settings, "episode_costs")
    ec = costs.join(scored, on="episode_id", how="inner").select(
        "episode_id", "cohort", "performance_year", pl.col("observed_cost").cast(pl.Float64),
        *[pl.col(f"cost_{c}").cast(pl.Float64) for c in SERVICE_CATEGORIES],
        *[(pl.col(d).cast(pl.Int64).fill_null(0) > 0).cast(pl.Int64).alias(d) for d in COST_DRIVERS])
    aggs = [pl.len().alias("episodes"), pl.col("observed_cost").sort().sum(),
            *[pl.col(f"cost_{c}").sort().sum() for c in SERVICE_CATEGORIES], *[pl.col(d).sum() for d in COST_DRIVERS]]
    attributed = read_table(settings, "episode_attribution", ["episode_id", "tin", "npi", "attributed"]).filter(
        pl.col("attributed"))
    att = attributed.select("episode_id", "tin").unique()
    cohort_keys = ["performance_year", "cohort"]
    by_cohort = _driver_items(ec.group_by(cohort_keys).agg(aggs), cohort_keys)
    by_tin = _driver_items(att.join(ec, on="episode_id", how="inner").group_by([*cohort_keys, "tin"]).agg(aggs),
                           [*cohort_keys, "tin"])
    # the same items per clinician (A2: over the participant's own attributed episodes)
    by_clinician = _driver_items(attributed.select("episode_id", "tin", "npi").unique().join(ec, on="episode_id")
                                 .group_by([*cohort_keys, "tin", "npi"]).agg(aggs), [*cohort_keys, "tin", "npi"])
    cohort_figures = by_cohort.select(*cohort_keys, "kind", "item", pl.col("share").alias("cohort_share"),
                                      pl.col("per_episode").alias("cohort_per_episode"))
    by_tin = by_tin.join(cohort_figures, on=[*cohort_keys, "kind", "item"], how="left")
    by_clinician = by_clinician.join(cohort_figures, on=[*cohort_keys, "kind", "item"], how="left")
    order = {"kind": ["service_category", "driver"]}
    item_order = list(SERVICE_CATEGORIES) + list(COST_DRIVERS)

    def sort(df: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
        return (df.with_columns(pl.col("kind").cast(pl.Enum(order["kind"])), pl.col("item").cast(pl.Enum(item_order)))
                .sort([*keys, "kind", "item"]).with_columns(pl.col("kind").cast(pl.Utf8), pl.col("item").cast(pl.Utf8)))

    return CostDrivers(by_tin=sort(by_tin, ["performance_year", "tin", "cohort"]), by_cohort=sort(by_cohort, cohort_keys),
                       by_clinician=sort(by_clinician, ["performance_year", "tin", "npi", "cohort"]))


def cohort_summary(bench: pl.DataFrame, by_cohort: pl.DataFrame, eligibility_table: pl.DataFrame,
                   facts: RunFacts) -> pl.DataFrame:
    """Per cohort and PY (every cohort with required measures): B1 pool size and flag, scored
    episodes and mean observed cost, N5 cost basis, Q6 status, Q1 measures not scored."""
    rows = pl.DataFrame({"performance_year": [facts.performance_year] * len(facts.required_measures),
                         "cohort": list(facts.required_measures)}, schema={"performance_year": pl.Int64,
                                                                           "cohort": pl.Utf8})
    episodes = by_cohort.filter(pl.col("kind") == "service_category").group_by("performance_year", "cohort").agg(
        pl.col("episodes").first().alias("scored_episodes"), pl.col("observed_cost").first().alias("observed_cost"))
    return (rows.join(_pool_sizes(bench.with_columns(pl.col("performance_year").cast(pl.Int64)), facts),
                      on=["performance_year", "cohort"], how="left")
            .join(episodes.with_columns(pl.col("performance_year").cast(pl.Int64)), on=["performance_year", "cohort"],
                  how="left")
            .with_columns(
                pl.col("peer_pool_size").fill_null(0), pl.col("small_pool").fill_null(True),
                pl.col("scored_episodes").fill_null(0),
                pl.when(pl.col("scored_episodes") > 0).then(pl.col("observed_cost") / pl.col("scored_episodes"))
                .alias("mean_observed_cost"),
                pl.lit(eligibility_table["tin"].n_unique()).alias("tins_in_run"),
                pl.lit(facts.cost_basis).alias("cost_basis"),
                pl.lit(facts.part_a).alias("part_a_supplied"),
                pl.lit(_q492_status(facts)).alias("q492"),
                pl.col("cohort").replace_strict({c: ", ".join(m for m in ms if m in facts.not_scored_measures)
                                                 for c, ms in facts.required_measures.items()},
                                                default="").alias("not_scored_measures"),
                pl.col("cohort").replace_strict({c: ", ".join(ms) for c, ms in facts.required_measures.items()},
                                                default="").alias("required_measures"),
            ).drop("observed_cost").sort("performance_year", "cohort"))


def break_even(pay: pl.DataFrame, p) -> pl.DataFrame:
    """P2 per cohort and PY: the run's scaling factor S and the break-even final score (factor 0 on that S)."""
    return pay.group_by(pl.col("performance_year").cast(pl.Int64), "cohort").agg(
        pl.col("scaling_factor").drop_nulls().first()).with_columns(
        payment.break_even_score_expr(p).alias("break_even_score"))
