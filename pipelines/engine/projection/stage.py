"""Projection stage (V1-V4): reads the scoring tables and CMS's published benchmarks, writes

  projected_scores               participant x cohort x PY: pool-based and projected cost points, final
                                 score, payment factor and dollars, each with its V3 interval and source
  projected_measure_points       participant x required measure: pool points next to V1 projected points
  projected_quality_benchmarks   cohort x measure x collection type: CMS's boundaries used (V1)
  projected_cost_benchmarks      cohort x PY: national average, spread and thresholds used (V2)
  score_waterfall                participant x figure x step: how the final score is built (S1) and pays
  projection_tin_summary         TIN x cohort x PY: participants by status, Part B paid, dollars by figure

Nothing here writes beneficiary ids (participant-level tables only).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import polars as pl

from pipelines.engine.methodology import Methodology
from pipelines.engine.projection import cost as vcost, inyear, interval, quality as vquality
from pipelines.engine.projection.history import append_history
from pipelines.engine.qpp import load_cost_averages, load_quality_benchmarks
from pipelines.engine.scoring import cost, final, payment
from pipelines.engine.scoring.params import quality_params
from pipelines.engine.settings import RunSettings
from pipelines.engine.warehouse import scan_frame
from pipelines.engine.tables import PARTICIPANT

FIGURES = ("pool", "projected")


@dataclass
class Inputs:
    """Everything the projection reads (already the run's or the warehouse's tables)."""

    scores: pl.DataFrame  # participant_scores
    pay: pl.DataFrame  # payment_adjustments
    cms: pl.DataFrame  # cost_measure_scores
    cost_benchmarks: pl.DataFrame
    quality_points: pl.DataFrame  # quality_measure_points (participant and TIN-level rows)
    measure_points: pl.DataFrame  # participant_measure_points (pool Q7)
    cohort_summary: pl.DataFrame
    episodes: pl.DataFrame  # own attributed episodes (own_episodes: R4 and Q6 inputs, open)
    last_service_date: object

    @classmethod
    def read(cls, settings: RunSettings) -> "Inputs":
        wh = settings.warehouse
        return cls(wh.read("participant_scores"), wh.read("payment_adjustments"), wh.read("cost_measure_scores"),
                   wh.read("cost_benchmarks"), wh.read("quality_measure_points"), wh.read("participant_measure_points"),
                   wh.read("cohort_summary"), own_episodes(settings, settings.performance_year),
                   data_last_service_date(settings))


def data_last_service_date(settings: RunSettings):
    """E5: the data's last service date (the latest service date in partb_lines)."""
    return scan_frame(settings.read_path("partb_lines")).select(pl.col("service_date").max()).collect().item()


def own_episodes(settings: RunSettings, py: int) -> pl.DataFrame:
    """Attributed scored episodes of the PY per participant (R4's inputs: winsorized observed, expected; Q6's:
    admissions, expected admissions and the cohort rate, null without Part A or for LBP; `open` (E5), False
    for these closed episodes), in episode id order: V3 resamples them by position, so their order must not
    depend on how the tables were read (one file or one per shard)."""
    wh = settings.warehouse
    er = wh.read("episode_risk", ["episode_id", "cohort", "performance_year", "fit", "observed_cost_winsorized",
                                  "expected_cost"]).filter(pl.col("fit") & (pl.col("performance_year") == py))
    att = wh.read("episode_attribution", ["episode_id", "tin", "npi", "attributed"]).filter(pl.col("attributed"))
    adm = wh.read("episode_admissions", ["episode_id", "admissions", "expected_admissions"])
    cohort_rate = wh.read("admission_rates", ["performance_year", "cohort", "cohort_rate"]).group_by(
        pl.col("performance_year").cast(pl.Int64), "cohort").agg(pl.col("cohort_rate").first())
    return att.join(er, on="episode_id").join(adm, on="episode_id", how="left").select(
        pl.col("performance_year").cast(pl.Int64), "cohort", "tin", "npi",
        pl.col("observed_cost_winsorized").cast(pl.Float64).alias("observed_cost"), pl.col("expected_cost"),
        pl.col("admissions").cast(pl.Float64), pl.col("expected_admissions").cast(pl.Float64),
        pl.lit(False).alias("open"), "episode_id",
    ).join(cohort_rate, on=["performance_year", "cohort"], how="left").sort([*PARTICIPANT, "episode_id"])


def _with_final(frame: pl.DataFrame, figure: str, m: Methodology) -> pl.DataFrame:
    """S1 (with S6's 0, by status) on a figure's quality score and cost points: adds <figure>_final_score. The
    projected figure scores by its V5 status and complex-patient bonus."""
    run = frame.select("status", "complex_bonus")
    out = frame.with_columns(pl.col(f"{figure}_quality_score").alias("quality_score"),
                             (pl.col(f"{figure}_cost_points") / 10.0).alias("cost_score"))
    if figure == "projected":
        out = out.with_columns(pl.col("projected_status").alias("status"),
                               pl.col("projected_complex_bonus").alias("complex_bonus"))
    return out.with_columns(final.score_by_status_expr(m.scoring).alias(f"{figure}_final_score")).drop(
        "quality_score", "cost_score").with_columns(run)


def projected_status_expr() -> pl.Expr:
    """V5: the status the projected figure scores by. A participant below the case minimum on closed episodes
    but on track with the open ones expected to close is projected as scored, or at S6's 0 when it misses the
    minimum submission; every other status is the run's."""
    on_track = (pl.col("status") == "below_case_minimum") & (pl.col("case_status") == inyear.ON_TRACK)
    return (pl.when(on_track & pl.col("minimum_submission_met")).then(pl.lit("scored"))
            .when(on_track).then(pl.lit("failed_minimum_submission")).otherwise(pl.col("status")))


def point_figures(inp: Inputs, qscore: pl.DataFrame, reference: pl.DataFrame, m: Methodology,
                  year: dict[str, pl.DataFrame], paid_scale: float) -> pl.DataFrame:
    """Per participant: the run's pool-based figures and the V1-V3 point projections; in an in-year run (V5) the
    projected figure counts the open episodes expected to close (their projected cost in the cost measure
    score, on-track participants projected as scored) and the Part B paid to date scaled to the whole PY."""
    pay = inp.pay.select(*PARTICIPANT, pl.col("adjustment_factor").alias("pool_factor"))
    frame = (inp.scores.rename({"quality_score": "pool_quality_score", "cost_points": "pool_cost_points",
                                "final_score": "run_final_score"})
             .join(pay, on=PARTICIPANT, how="left")
             .join(inp.cms.select(*PARTICIPANT, "cohort_mean_cost"), on=PARTICIPANT, how="left")
             .join(qscore, on=PARTICIPANT, how="left")
             .join(year["counts"], on=PARTICIPANT, how="left")
             .join(year["scores"], on=PARTICIPANT, how="left")
             .with_columns(projected_status_expr().alias("projected_status"),
                           pl.when(pl.col("expected_episodes") > 0).then(pl.col("inyear_measure_score"))
                           .otherwise(pl.col("measure_score")).alias("projected_measure_score"),
                           (pl.col("partb_paid") * paid_scale).alias("projected_partb_paid"))
             .pipe(_with_outside_complex_bonus, m)
             .join(reference.select("performance_year", "cohort", "median", "sd", *cost.THRESHOLDS),
                   on=["performance_year", "cohort"], how="left"))
    frame = frame.with_columns(cost.cost_points_expr(m.benchmarks, "projected_measure_score")
                               .alias("projected_cost_points")).drop("median", "sd", *cost.THRESHOLDS)
    frame = _with_final(frame, "projected", m).with_columns(pl.col("run_final_score").alias("pool_final_score"))
    scaling = projected_scaling(cohort_scaling(inp.pay), frame, m)
    frame = frame.join(scaling, on="cohort", how="left").with_columns(
        payment.adjustment_factor_expr(m.payment, "projected_final_score", "projected_partb_paid").alias("projected_factor"))
    return frame.with_columns((pl.col("pool_factor") * pl.col("partb_paid")).alias("pool_dollar_impact"),
                              (pl.col("projected_factor") * pl.col("projected_partb_paid"))
                              .alias("projected_dollar_impact"))


def _with_outside_complex_bonus(frame: pl.DataFrame, m: Methodology) -> pl.DataFrame:
    """V5/S4: a participant projected as scored that is not in the pool yet gets its complex-patient bonus
    against the pool (the run's bonus, 0 outside the pool, stays for the pool-based figure)."""
    outside = (pl.col("status") == "below_case_minimum") & (pl.col("projected_status") != "below_case_minimum")
    pool = frame.filter(pl.col("pool_cost_points").is_not_null())
    rows = frame.filter(outside)
    if rows.height == 0:
        return frame.with_columns(pl.col("complex_bonus").alias("projected_complex_bonus"))
    bonus = final.complex_bonus_against_pool(rows, pool, m.scoring).rename({"complex_bonus": "_outside_bonus"})
    return frame.join(bonus, on=PARTICIPANT, how="left").with_columns(
        pl.coalesce("_outside_bonus", "complex_bonus").alias("projected_complex_bonus")).drop("_outside_bonus")


def cohort_mean_costs(cms: pl.DataFrame) -> pl.DataFrame:
    """R4's cohort mean cost per PY and cohort (one value per cohort in cost_measure_scores)."""
    return cms.group_by(pl.col("performance_year").cast(pl.Int64), "cohort").agg(
        pl.col("cohort_mean_cost").drop_nulls().first())


def cohort_scaling(pay: pl.DataFrame) -> pl.DataFrame:
    """P3: the run's scaling factor S per cohort (one value per cohort in payment_adjustments)."""
    return pay.group_by("cohort").agg(pl.col("scaling_factor").drop_nulls().first())


SCALING_RUN, SCALING_PROJECTED = "run pool", "projected participants"


def projected_scaling(run: pl.DataFrame, frame: pl.DataFrame, m: Methodology) -> pl.DataFrame:
    """P3's S the projected figure prices with: the run's (V3), or, for a cohort whose run has none (early in
    the year no one is scored yet, V5), S solved by P3 over the participants projected as scored (their
    projected final scores and Part B paid). Columns: cohort, scaling_factor, scaling_source."""
    known = run.filter(pl.col("scaling_factor").is_not_null()).with_columns(pl.lit(SCALING_RUN).alias("scaling_source"))
    rows = []
    pool = frame.filter(~pl.col("cohort").is_in(known["cohort"].implode()) & (pl.col("projected_status") == "scored")
                        ).with_columns(pl.col("projected_partb_paid").cast(pl.Float64).fill_null(0.0))
    pool = pool.filter(payment.payment_status_expr("projected_final_score", "projected_partb_paid") == payment.IN_POOL)
    for (cohort,), g in pool.with_columns(payment.transformed_score_expr(m.payment, "projected_final_score").alias("t")
                                          ).sort("cohort", "t", "projected_partb_paid").group_by("cohort", maintain_order=True):
        s = payment.solve_scaling(g["t"].to_numpy(), g["projected_partb_paid"].to_numpy(), m.payment.risk_level,
                                  m.payment.payback_share)
        if s is not None:
            rows.append({"cohort": cohort, "scaling_factor": s, "scaling_source": SCALING_PROJECTED})
    extra = pl.DataFrame(rows, schema={"cohort": pl.Utf8, "scaling_factor": pl.Float64, "scaling_source": pl.Utf8})
    return pl.concat([known.select("cohort", pl.col("scaling_factor").cast(pl.Float64), "scaling_source"), extra])


def with_open_episodes(closed: pl.DataFrame, open_rows: pl.DataFrame) -> pl.DataFrame:
    """V3's own episodes plus V5's open ones (open = True, observed cost = their projected winsorized cost). Q6:
    an open episode adds no admissions and no expected admissions yet (0 and 0 where the cohort has a rate), so
    the projected figure's Q492 draws rest on the closed episodes of the same resample."""
    if open_rows.height == 0:
        return closed
    rates = closed.group_by("performance_year", "cohort").agg(pl.col("cohort_rate").drop_nulls().first())
    known = pl.col("cohort_rate").is_not_null()
    extra = (open_rows.join(rates, on=["performance_year", "cohort"], how="left")
             .with_columns(pl.when(known).then(0.0).alias("admissions"),
                           pl.when(known).then(0.0).alias("expected_admissions"), pl.lit(True).alias("open"))
             .filter(pl.col("expected_cost").is_not_null()))
    return pl.concat([closed, extra.select(closed.columns)], how="vertical_relaxed").sort([*PARTICIPANT, "episode_id"])


def intervals(inp: Inputs, points: pl.DataFrame, reference: pl.DataFrame, qbench: pl.DataFrame, qp,
              m: Methodology, year_open: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """V3 (projection.interval): (per participant: intervals and their sign words; per TIN and cohort: the
    dollars' intervals and signs). The scored participants get both figures' draws; failed minimum submission
    (S6): 0 and -r, no spread."""
    scored = points.filter(pl.col("status") == "scored").with_columns(pl.lit(True).alias("pool_figure"))
    # V5: on track with the open episodes expected to close: the projected figure only, its bonus against the pool
    on_track = points.filter((pl.col("status") != "scored") & (pl.col("projected_status") == "scored")).with_columns(
        pl.lit(False).alias("pool_figure"))
    members = inp.scores.filter(pl.col("cost_points").is_not_null()).select(  # B1
        *PARTICIPANT, "status", "measure_score", *interval.HELD).join(
        inp.pay.select(*PARTICIPANT, "partb_paid"), on=PARTICIPANT, how="left")
    boot = interval.Bootstrap(
        participants=pl.concat([scored, on_track]).with_columns(pl.col("projected_complex_bonus").alias("complex_bonus"))
        .select(*PARTICIPANT, "pool_figure", "measure_score", "cohort_mean_cost", *interval.HELD, "partb_paid",
                "projected_partb_paid"),
        episodes=with_open_episodes(inp.episodes, year_open), members=members, quality_rows=inp.quality_points, cost_benchmarks=inp.cost_benchmarks,
        cms_quality=qbench, reference=reference,
        scaling=points.group_by("cohort").agg(pl.col("scaling_factor").drop_nulls().first()), qp=qp,
        part_a_measures=tuple(m.quality.part_a_measures))
    drawn, tins = interval.bootstrap_intervals(
        boot, m, points.select(*PARTICIPANT, *[f"{f}_dollar_impact" for f in FIGURES]))
    failed = points.filter((pl.col("status") == "failed_minimum_submission")  # and V5's on-track ones failing S6
                           | (pl.col("projected_status") == "failed_minimum_submission"))
    ranges = pl.concat([drawn, interval.fixed_intervals(failed)], how="diagonal_relaxed")
    return interval.with_signs(ranges), tins


def lead(points: pl.DataFrame, m: Methodology) -> pl.DataFrame:
    """V4: which figure a report leads with, and why."""
    limit = m.benchmarks.small_pool_participants
    choice = m.projection.lead
    big = ~cost.small_pool_expr(pl.col("peer_pool_size"), m.benchmarks)
    if choice == "auto":
        figure = pl.when(big).then(pl.lit("pool")).otherwise(pl.lit("projected"))
        reason = (pl.when(big).then(pl.format("peer pool of {} >= {} participants", pl.col("peer_pool_size"),
                                               pl.lit(limit)))
                  .otherwise(pl.format("peer pool of {} < {} participants: projection against CMS benchmarks",
                                       pl.col("peer_pool_size"), pl.lit(limit))))
    else:
        figure = pl.lit("pool" if choice == "pool" else "projected")
        reason = pl.lit(f"projection.lead = {choice}")
    return points.with_columns(figure.alias("lead"), reason.alias("lead_reason"))


def quality_source(per_measure: pl.DataFrame) -> pl.DataFrame:
    """Per participant: words for where its projected quality points come from (V1 source and year)."""
    cms = pl.col("source") == vquality.SOURCE_CMS
    return per_measure.filter(pl.col("source").is_not_null()).group_by(PARTICIPANT).agg(
        cms.sum().alias("measures_cms"), (~cms).sum().alias("measures_pool"),
        pl.col("cms_performance_year").filter(cms).max().alias("quality_benchmark_py"),
        pl.col("benchmark_year").filter(cms).max().alias("quality_benchmark_year"),
    ).with_columns(pl.format("CMS MIPS benchmarks (latest MIPS PY {}, benchmark year {}) for {} measure(s); run pool "
                             "deciles for {}", pl.col("quality_benchmark_py"), pl.col("quality_benchmark_year"),
                             pl.col("measures_cms"), pl.col("measures_pool")).alias("quality_source"))


def waterfall_steps(m: Methodology) -> tuple[tuple[str, str], ...]:
    """S1's terms in order, labelled with the configured category weights."""
    sp = m.scoring
    return (("quality", f"Quality ({sp.quality_weight:.0%} of the quality category)"),
            ("cost", f"Cost ({sp.cost_weight:.0%} of the cost category)"),
            ("ia", "Improvement activities (IA)"), ("pi", "Promoting interoperability (PI)"),
            ("complex", "Complex-patient bonus"), ("small", "Small-practice bonus"),
            ("clamp", f"Clamped to {sp.final_score_min:g}-{sp.final_score_max:g}"), ("final", "Final score"))


def waterfall(frame: pl.DataFrame, m: Methodology) -> pl.DataFrame:
    """S1 as steps per participant and figure: contributions of quality and cost, IA, PI, bonuses, the clamp
    (or S6's zero), the final score; with the payment factor and dollars the final score pays (P3/P4)."""
    sp = m.scoring
    parts = []
    for f in FIGURES:
        q = 100.0 * sp.quality_weight * pl.col(f"{f}_quality_score")
        c = 100.0 * sp.cost_weight * pl.col(f"{f}_cost_points") / 10.0
        raw = q + c + pl.col("ia_adjustment") + pl.col("pi_adjustment") + pl.col("complex_bonus") + pl.col(
            "small_practice_bonus")
        values = {"quality": q, "cost": c, "ia": pl.col("ia_adjustment"), "pi": pl.col("pi_adjustment"),
                  "complex": pl.col("complex_bonus"), "small": pl.col("small_practice_bonus"),
                  "clamp": (pl.col(f"{f}_final_score") - raw).round(9), "final": pl.col(f"{f}_final_score")}
        base = frame.filter(pl.col(f"{f}_final_score").is_not_null())
        for order, (step, label) in enumerate(waterfall_steps(m)):
            parts.append(base.select(*PARTICIPANT, pl.lit(f).alias("figure"), pl.lit(order).alias("step_order"),
                                     pl.lit(step).alias("step"), pl.lit(label).alias("label"),
                                     values[step].cast(pl.Float64).alias("value"),
                                     pl.col(f"{f}_factor").alias("adjustment_factor"),
                                     pl.col(f"{f}_dollar_impact").alias("dollar_impact")))
    out = pl.concat(parts) if parts else pl.DataFrame()
    running = pl.when(pl.col("step") == "final").then(pl.col("value")).otherwise(
        pl.col("value").cum_sum().over([*PARTICIPANT, "figure"], order_by="step_order"))
    return out.with_columns(running.alias("running_total")).sort(*PARTICIPANT, "figure", "step_order")


def tin_summary(projected: pl.DataFrame, ranges: pl.DataFrame) -> pl.DataFrame:
    """Per TIN, cohort and PY: participants by status, the led figure, and total dollars by figure (P4), with
    the V3 interval of each figure's total and its sign in words (`ranges`: interval.tin_intervals)."""
    keys = ["performance_year", "tin", "cohort"]
    return projected.group_by(keys).agg(
        pl.len().alias("participants"),
        *[(pl.col("status") == s).sum().alias(s) for s in ("scored", "failed_minimum_submission",
                                                           "below_case_minimum", "not_eligible")],
        (pl.col("case_status") == inyear.ON_TRACK).sum().alias("on_track"),  # V5
        pl.col("closed_episodes").sum().alias("closed_episodes"),
        pl.col("expected_episodes").sum().alias("expected_episodes"),
        pl.col("lead").drop_nulls().first().alias("lead"),
        pl.col("partb_paid").sum().alias("partb_paid"),
        *[pl.col(f"{f}_dollar_impact").sum().alias(f"{f}_dollar_impact") for f in FIGURES],
        pl.when(pl.col("lead") == "pool").then(pl.col("pool_dollar_impact")).otherwise(
            pl.col("projected_dollar_impact")).alias("_lead").sum().alias("lead_dollar_impact"),
        pl.when(pl.col("lead") == "pool").then(pl.col("pool_dollar_impact")).otherwise(
            pl.col("projected_dollar_impact")).count().alias("_with_dollars"),
    ).with_columns(*[pl.when(pl.col("_with_dollars") > 0).then(pl.col(c)).alias(c)
                     for c in ("partb_paid", "pool_dollar_impact", "projected_dollar_impact", "lead_dollar_impact")]
                   ).drop("_with_dollars").join(ranges, on=keys, how="left").sort(keys)


PROJECTED_COLUMNS = [
    *PARTICIPANT, "status", "status_reason", "episodes", "peer_pool_size", "lead", "lead_reason",
    "in_year", "closed_episodes", "expected_episodes", "projected_episodes", "case_status", "case_status_words",
    "projected_status", "minimum_submission_met", "minimum_submission_issue",
    "measure_score", "measure_score_low", "measure_score_high", "projected_measure_score",
    "pool_quality_score", "pool_cost_points", "pool_cost_points_low", "pool_cost_points_high",
    "pool_final_score", "pool_final_score_low", "pool_final_score_high",
    "pool_factor", "pool_factor_low", "pool_factor_high", "pool_dollar_impact", "pool_dollar_impact_low",
    "pool_dollar_impact_high", "pool_sign", "pool_source",
    "projected_quality_points", "projected_quality_score", "quality_source", "quality_benchmark_py",
    "quality_benchmark_year", "national_average_cost", "median_mean_ratio", "cost_reference_median", "cost_measure", "cost_average_py", "cost_average_source",
    "cost_spread", "cost_spread_source",
    "projected_cost_points", "projected_cost_points_low", "projected_cost_points_high",
    "projected_final_score", "projected_final_score_low", "projected_final_score_high",
    "projected_factor", "projected_factor_low", "projected_factor_high", "projected_dollar_impact",
    "projected_dollar_impact_low", "projected_dollar_impact_high", "projected_sign", "scaling_factor", "scaling_source", "partb_paid",
    "partb_paid_scale", "projected_partb_paid", "complex_bonus", "projected_complex_bonus",
    "draws", "interval_level", "seed", "bootstrap_sources", "data_last_service_date",
]


def _sources(frame: pl.DataFrame, reference: pl.DataFrame, m: Methodology) -> pl.DataFrame:
    """Provenance columns of each figure (benchmark source and year)."""
    ref = reference.with_columns(
        pl.Series("cost_spread_source", [vcost.spread_label(r, m) for r in reference.iter_rows(named=True)],
                  dtype=pl.Utf8),
        pl.format("CMS MIPS national average cost {} (MIPS PY {}), {}", pl.col("cost_measure"),
                  pl.col("cms_performance_year"), pl.col("source_file")).alias("cost_average_source"),
    ).select("performance_year", "cohort", "cost_measure", pl.col("national_average").alias("national_average_cost"),
             "median_mean_ratio", pl.col("median").alias("cost_reference_median"),
             pl.col("cms_performance_year").alias("cost_average_py"), "cost_average_source",
             pl.col("sd").alias("cost_spread"), "cost_spread_source")
    return frame.join(ref, on=["performance_year", "cohort"], how="left").with_columns(
        pl.format("run peer pool of {} participant(s)", pl.col("peer_pool_size")).alias("pool_source"))


def compute_projection(settings: RunSettings, m: Methodology) -> tuple[dict[str, pl.DataFrame], dict]:
    py = settings.performance_year
    inp = Inputs.read(settings)
    part_a = bool(inp.cohort_summary["part_a_supplied"].any()) if inp.cohort_summary.height else False
    qp = quality_params(m, part_a_supplied=part_a)
    p = m.projection
    cms_q = load_quality_benchmarks(p.quality_benchmarks_file, py)
    combos = inp.quality_points.select("cohort", "measure_id", "collection_type").drop_nulls()
    qbench = vquality.cms_deciles(cms_q, combos, m, py)
    year = inyear.read_inyear(settings, m, inp.last_service_date, inp.scores.select(PARTICIPANT), inp.episodes,
                              cohort_mean_costs(inp.cms))
    # V5: Q492's cases count the open episodes expected to close (the projected figure's rows; the pool's as run)
    inp = replace(inp, quality_points=inyear.with_expected_cases(inp.quality_points, year["counts"],
                                                                 tuple(m.quality.part_a_measures)))
    per_measure, qscore = vquality.projected_quality(
        inp.scores.select(PARTICIPANT), inp.quality_points, qbench, qp, tuple(m.quality.part_a_measures), part_a)
    cohorts = sorted(qp.required_measures)
    reference = vcost.reference_distribution(
        inp.cost_benchmarks, load_cost_averages(p.cost_averages_file, py, p.cost_average_column), cohorts, m, py,
        vcost.pool_median_mean(inp.scores))
    pool_size = inp.cost_benchmarks.select(pl.col("performance_year").cast(pl.Int64), "cohort",
                                           pl.col("participants").cast(pl.Int64).alias("peer_pool_size"))
    paid_scale = inyear.partb_paid_scale(inp.last_service_date, py, m)
    points = point_figures(inp, qscore, reference, m, year, paid_scale).join(
        pool_size, on=["performance_year", "cohort"], how="left")
    points = lead(points.with_columns(pl.col("peer_pool_size").fill_null(0)), m)
    ranges, tin_ranges = intervals(inp, points, reference, qbench, qp, m, year["open_rows"])
    projected = (points.join(ranges, on=PARTICIPANT, how="left")
                 .join(quality_source(per_measure), on=PARTICIPANT, how="left")
                 .pipe(_sources, reference, m)
                 .with_columns(pl.lit(p.interval_level).alias("interval_level"), pl.lit(p.seed).alias("seed"),
                               pl.lit(", ".join(p.bootstrap_sources)).alias("bootstrap_sources"),
                               pl.lit(inp.last_service_date).alias("data_last_service_date"),
                               pl.lit(inyear.in_year(inp.last_service_date, py)).alias("in_year"),
                               pl.lit(paid_scale).alias("partb_paid_scale")))
    projected = projected.select(PROJECTED_COLUMNS).sort(PARTICIPANT)
    tables = {
        "projected_scores": projected,
        "projected_measure_points": measure_table(per_measure, inp.measure_points),
        "projected_quality_benchmarks": qbench.drop("usable").rename({"reason": "no_benchmark_reason"}),
        "projected_cost_benchmarks": reference,
        "score_waterfall": waterfall(points, m),
        "projection_tin_summary": tin_summary(projected, tin_ranges),
        "inyear_cost_curve": year["curve"].with_columns(pl.lit(py).cast(pl.Int64).alias("performance_year"))
        .select("performance_year", "cohort", "episode_day", "closed_episodes", "cumulative_share"),
        "open_episode_projections": year["open_costs"],
    }
    info = {"last_service_date": inp.last_service_date, "participants": projected.height,
            "with_interval": int(projected["draws"].is_not_null().sum()),
            "lead": dict(projected.group_by("lead").len().drop_nulls().iter_rows()),
            "in_year": inyear.in_year(inp.last_service_date, py),
            "case_status": dict(projected.group_by("case_status").len().drop_nulls().iter_rows()),
            "open_episodes_projected": year["open_costs"].height,
            "cost_reference": reference.select("cohort", "cost_measure", "national_average", "spread_source").to_dicts(),
            "no_cms_benchmark": qbench.filter(~pl.col("usable")).select("measure_id", "collection_type", "reason").to_dicts()}
    return tables, info


def measure_table(per_measure: pl.DataFrame, pool: pl.DataFrame) -> pl.DataFrame:
    """Per participant and required measure: the pool's Q7 points next to V1's, with V1's provenance."""
    pool = pool.select(*PARTICIPANT, "measure_id", pl.col("points").alias("pool_points"),
                       pl.col("collection_type").alias("pool_collection_type"), pl.col("decile").alias("pool_decile"),
                       pl.col("status").alias("pool_status"))
    return per_measure.rename({"points": "projected_points", "decile": "projected_decile",
                               "status": "projected_status", "performance_rate": "rate_cms_units",
                               "reason": "no_cms_benchmark_reason"}).join(
        pool, on=[*PARTICIPANT, "measure_id"], how="left").drop("usable").sort(*PARTICIPANT, "measure_id")


def run_projection(settings: RunSettings, m: Methodology) -> tuple[dict[str, pl.DataFrame], dict]:
    """The stage: computes, appends the run to OUT/history (V, the trend) and writes its tables."""
    tables, info = compute_projection(settings, m)
    info["history"] = append_history(settings.out_dir, tables["projected_scores"], settings.tins)
    for name, frame in tables.items():
        settings.warehouse.write(name, frame)
    return tables, info
