"""V5: the year in progress. Before the PY's data are complete, an open episode (E5) whose window ends inside
the PY is "expected to close": it counts toward the case minimum (R5) as expected, and its cost so far is
projected to the full window by the cohort's cost-by-episode-day curve of closed episodes.

  cost curve (DEFAULT)   per cohort, over the closed episodes that count for scoring (any PY): share(d) = the
                         cost of their assigned services on episode days 0..d / their whole cost (ratio of sums;
                         post-acute claims after the window count in the whole cost only)
  projected cost         an open episode seen up to day d (the data's last service date - its start):
                         cost to date / share(d); when share(d) < projection.open_episode_min_share (too early to
                         scale), the cohort's mean cost of those closed episodes; then winsorized at the cohort
                         and PY's cap (C4), like every scored cost
  counts                 per participant: closed (attributed scorable episodes, E5) and expected (attributed open
                         episodes of the PY, not excluded or quarantined); "on track" when closed < the case
                         minimum <= closed + expected
  projected score        R4 over closed + projected open episodes (sum observed / sum expected x the cohort mean
                         cost); the pool-based figure keeps closed episodes only (E5)

At year end (data through the PY's last day) no PY episode is open: the counts equal R5's and nothing changes.
No beneficiary id leaves this module (episode and participant rows only)."""
from __future__ import annotations

import datetime as dt

import polars as pl

from pipelines.engine.methodology import Methodology
from pipelines.engine.tables import PARTICIPANT
from pipelines.engine.warehouse import scan_frame

LAST_DAY = 364  # E3: days 0..364 of a 365-day window
CURVE, COHORT_MEAN = "cost curve", "cohort mean (too early to scale)"
ON_TRACK, NOT_ON_TRACK, CLOSED_ENOUGH = "on track", "not on track", "enough closed episodes"


def in_year(last_service_date: dt.date | None, py: int) -> bool:
    """E5/V5: the data stop before the PY's last day, so some of the PY's episodes may still be open."""
    return last_service_date is not None and last_service_date < dt.date(py, 12, 31)


def expected_to_close(episodes: pl.DataFrame, py: int) -> pl.DataFrame:
    """V5: the open episodes (E5: end after the data's last service date) whose window ends inside the PY,
    not excluded or quarantined (X1). An open episode ending after the PY belongs to a later PY (E5)."""
    return episodes.filter((pl.col("status") == "open") & (pl.col("performance_year") == py)
                           & ~pl.col("excluded").fill_null(False) & ~pl.col("quarantined").fill_null(False))


def cost_curve(lines: pl.LazyFrame, closed: pl.DataFrame) -> pl.DataFrame:
    """Per cohort and episode day 0..364: the cumulative share of the whole cost of closed episodes.

    `lines`: episode_lines (episode_id, episode_day, cost_amount); `closed`: episode_id, cohort of the closed
    episodes that count for scoring."""
    # summed in whole cents (integers): the same curve whatever the order the lines are read in (shards)
    per_day = (lines.select("episode_id", "episode_day",
                            (pl.col("cost_amount").cast(pl.Float64) * 100).round(0).cast(pl.Int64).alias("cents"))
               .join(closed.lazy().select("episode_id", "cohort"), on="episode_id")
               .group_by("cohort", pl.col("episode_day").clip(0, LAST_DAY + 1).alias("day"))
               .agg(pl.col("cents").sum().alias("cost")).collect())
    days = pl.DataFrame({"day": range(LAST_DAY + 1)}, schema={"day": pl.Int64})
    cohorts = closed.select("cohort").unique()
    grid = cohorts.join(days, how="cross")
    totals = per_day.group_by("cohort").agg(pl.col("cost").sum().alias("total_cost"),
                                            pl.col("cost").filter(pl.col("day") > LAST_DAY).sum().alias("after"))
    episodes = closed.group_by("cohort").agg(pl.len().alias("closed_episodes"))
    curve = (grid.join(per_day.with_columns(pl.col("day").cast(pl.Int64)), on=["cohort", "day"], how="left")
             .with_columns(pl.col("cost").fill_null(0)).sort("cohort", "day")
             .with_columns(pl.col("cost").cum_sum().over("cohort").alias("cost_to_day"))
             .join(totals, on="cohort", how="left").join(episodes, on="cohort", how="left"))
    return curve.select(
        "cohort", pl.col("day").alias("episode_day"), "closed_episodes",
        pl.when(pl.col("total_cost") > 0).then(pl.col("cost_to_day").cast(pl.Float64) / pl.col("total_cost"))
        .alias("cumulative_share")).sort("cohort", "episode_day")


def open_episode_costs(open_eps: pl.DataFrame, curve: pl.DataFrame, closed_mean: pl.DataFrame,
                       last_service_date: dt.date, m: Methodology) -> pl.DataFrame:
    """Projected full-window cost of each open episode expected to close in the PY.

    `open_eps`: episode_id, cohort, performance_year, start_date, end_date, cost_to_date, winsor_cap,
    expected_cost; `closed_mean`: cohort, closed_mean_cost (mean whole cost of the curve's episodes)."""
    floor = m.projection.open_episode_min_share
    day = (pl.lit(last_service_date) - pl.col("start_date")).dt.total_days().clip(0, LAST_DAY).cast(pl.Int64)
    frame = (open_eps.with_columns(day.alias("episode_day"))
             .join(curve.select("cohort", "episode_day", "cumulative_share"), on=["cohort", "episode_day"],
                   how="left")
             .join(closed_mean, on="cohort", how="left"))
    scalable = pl.col("cumulative_share") >= floor
    projected = pl.when(scalable).then(pl.col("cost_to_date") / pl.col("cumulative_share")).otherwise(
        pl.col("closed_mean_cost"))
    return frame.with_columns(
        projected.alias("projected_cost"),
        pl.when(scalable).then(pl.lit(CURVE)).otherwise(pl.lit(COHORT_MEAN)).alias("projection_method"),
    ).with_columns(  # C4: the cohort and PY's cap, as for closed episodes (no cap: none)
        pl.min_horizontal("projected_cost", pl.col("winsor_cap").fill_null(float("inf")))
        .alias("projected_cost_winsorized"),
    ).select("episode_id", "cohort", "performance_year", "start_date", "end_date", "episode_day",
             "cost_to_date", "cumulative_share", "projection_method", "projected_cost", "winsor_cap",
             "projected_cost_winsorized", "expected_cost").sort("episode_id")


def participant_counts(closed_attr: pl.DataFrame, open_attr: pl.DataFrame, participants: pl.DataFrame,
                       case_minimum: int) -> pl.DataFrame:
    """V5 per participant: closed (R5) and expected-to-close episodes, and whether it is on track.

    `closed_attr` / `open_attr`: PARTICIPANT + episode_id of attributed scorable / open PY episodes;
    `participants`: the rows to report (PARTICIPANT)."""
    closed = closed_attr.group_by(PARTICIPANT).agg(pl.len().alias("closed_episodes"))
    expected = open_attr.group_by(PARTICIPANT).agg(pl.len().alias("expected_episodes"))
    out = (participants.select(PARTICIPANT).join(closed, on=PARTICIPANT, how="left")
           .join(expected, on=PARTICIPANT, how="left")
           .with_columns(pl.col("closed_episodes").fill_null(0).cast(pl.Int64),
                         pl.col("expected_episodes").fill_null(0).cast(pl.Int64)))
    total = pl.col("closed_episodes") + pl.col("expected_episodes")
    return out.with_columns(
        total.alias("projected_episodes"),
        pl.when(pl.col("closed_episodes") >= case_minimum).then(pl.lit(CLOSED_ENOUGH))
        .when(total >= case_minimum).then(pl.lit(ON_TRACK)).otherwise(pl.lit(NOT_ON_TRACK)).alias("case_status"),
        pl.format("{} closed, {} open: {} {}", pl.col("closed_episodes"), pl.col("expected_episodes"),
                  pl.when(total >= case_minimum).then(pl.lit("on track for")).otherwise(pl.lit("expected")),
                  total).alias("case_status_words"))


def projected_measure_scores(closed_rows: pl.DataFrame, open_rows: pl.DataFrame,
                             cohort_mean: pl.DataFrame) -> pl.DataFrame:
    """R4 over closed + projected open episodes per participant (sum observed / sum expected x cohort mean).

    `closed_rows` / `open_rows`: PARTICIPANT + observed_cost (winsorized; projected for open) + expected_cost;
    `cohort_mean`: performance_year, cohort, cohort_mean_cost (R4's, over closed scorable episodes)."""
    rows = pl.concat([closed_rows.select(*PARTICIPANT, "observed_cost", "expected_cost"),
                      open_rows.select(*PARTICIPANT, "observed_cost", "expected_cost")])
    return (rows.group_by(PARTICIPANT).agg(pl.col("observed_cost").sort().sum(), pl.col("expected_cost").sort().sum())
            .join(cohort_mean, on=["performance_year", "cohort"], how="left")
            .select(*PARTICIPANT, (pl.col("observed_cost") / pl.col("expected_cost") * pl.col("cohort_mean_cost"))
                    .alias("inyear_measure_score")))


def partb_paid_scale(last_service_date: dt.date | None, py: int, m: Methodology) -> float:
    """V5 DEFAULT: days in the PY / days of the PY the data cover (1.0 at year end, or when not annualizing)."""
    if not m.projection.annualize_partb_paid or not in_year(last_service_date, py):
        return 1.0
    first, last = dt.date(py, 1, 1), dt.date(py, 12, 31)
    covered = (last_service_date - first).days + 1
    return 1.0 if covered <= 0 else ((last - first).days + 1) / covered


def read_inyear(settings, m: Methodology, last_service_date: dt.date | None, participants: pl.DataFrame,
                closed_rows: pl.DataFrame, cohort_mean: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """V5 from the run's tables: the cost curve, the open episodes' projected costs, per participant counts and
    the in-year cost measure score. `participants`: PARTICIPANT rows to report; `closed_rows`: their attributed
    scorable episodes (own_episodes: PARTICIPANT, episode_id, observed_cost winsorized, expected_cost);
    `cohort_mean`: R4's cohort mean cost per PY and cohort. Returns curve, open_costs, open_rows (PARTICIPANT,
    episode_id, observed_cost = projected winsorized, expected_cost), counts, scores."""
    wh, py = settings.warehouse, settings.performance_year
    eps = wh.read("episodes", ["episode_id", "cohort", "performance_year", "status", "start_date", "end_date",
                               "excluded", "quarantined", "counts_for_scoring"])
    closed = eps.filter(pl.col("counts_for_scoring")).select("episode_id", "cohort")
    curve = cost_curve(scan_frame(wh.read_path("episode_lines")), closed)
    costs = wh.read("episode_costs", ["episode_id", "observed_cost", "winsor_cap"])
    closed_mean = closed.join(costs, on="episode_id").group_by("cohort").agg(  # sorted: the same sum every run
        pl.col("observed_cost").cast(pl.Float64).sort().mean().alias("closed_mean_cost"))
    open_py = expected_to_close(eps, py)
    if last_service_date is None or open_py.height == 0:
        open_costs = open_episode_costs(_empty_open(), curve, closed_mean, last_service_date or dt.date(py, 12, 31), m)
    else:
        risk = wh.read("episode_risk", ["episode_id", "expected_cost"])
        open_costs = open_episode_costs(
            open_py.select("episode_id", "cohort", pl.col("performance_year").cast(pl.Int64), "start_date", "end_date")
            .join(costs.select("episode_id", pl.col("observed_cost").cast(pl.Float64).alias("cost_to_date"),
                               pl.col("winsor_cap").cast(pl.Float64)), on="episode_id", how="left")
            .join(risk, on="episode_id", how="left"), curve, closed_mean, last_service_date, m)
    attributed = wh.read("episode_attribution", ["episode_id", "tin", "npi", "attributed"]).filter(pl.col("attributed"))
    open_rows = (attributed.join(open_costs.select("episode_id", "cohort", "performance_year",
                                                   pl.col("projected_cost_winsorized").alias("observed_cost"),
                                                   "expected_cost"), on="episode_id")
                 .join(participants.select(PARTICIPANT), on=PARTICIPANT, how="semi")
                 .select(*PARTICIPANT, "observed_cost", "expected_cost", "episode_id").sort([*PARTICIPANT, "episode_id"]))
    counts = participant_counts(closed_rows, open_rows, participants, m.benchmarks.case_minimum)
    scores = projected_measure_scores(closed_rows, open_rows.filter(pl.col("expected_cost").is_not_null()), cohort_mean)
    return {"curve": curve, "open_costs": open_costs, "open_rows": open_rows, "counts": counts, "scores": scores}


def _empty_open() -> pl.DataFrame:
    return pl.DataFrame(schema={"episode_id": pl.Utf8, "cohort": pl.Utf8, "performance_year": pl.Int64,
                                "start_date": pl.Date, "end_date": pl.Date, "cost_to_date": pl.Float64,
                                "winsor_cap": pl.Float64, "expected_cost": pl.Float64})


def with_expected_cases(quality_points: pl.DataFrame, counts: pl.DataFrame,
                        computed_measures: tuple[str, ...]) -> pl.DataFrame:
    """V5 for the measures computed from the episodes (Q6's Q492): their case count is the participant's
    attributed episodes, so the projected figure counts the open ones expected to close too (Q4's 20 cases, as
    R5); the rate stays the closed episodes'. Submitted measures and TIN-level rows are unchanged, and so is
    every participant with no expected episode (at year end, everyone)."""
    if counts.height == 0 or not computed_measures:
        return quality_points
    extra = counts.select(*PARTICIPANT, "expected_episodes")
    return (quality_points.join(extra, on=PARTICIPANT, how="left")
            .with_columns(pl.when(pl.col("measure_id").is_in(list(computed_measures)) & pl.col("npi").is_not_null())
                          .then(pl.col("cases") + pl.col("expected_episodes").fill_null(0))
                          .otherwise(pl.col("cases")).cast(quality_points.schema["cases"]).alias("cases"))
            .drop("expected_episodes"))
