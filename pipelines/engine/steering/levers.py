"""What to fix (issue 18 item 4): per participant, each change that would raise its final score, priced
by re-scoring with the scoring functions, never by a rule of thumb.

Each lever is a *variant* of the participant's inputs (an attestation answer, a PI score, a quality row's
completeness, cases or rate, its cost measure score, its case count) scored again by the functions that
scored the run: S2/S3 by `final.practice_adjustments`, Q2-Q7 by `quality.classify_rates`,
`measure_points` (the run's Q5 benchmarks), `best_points_per_measure` and `participant_quality`, B3 by
`cost.cost_points` (the run's B2 benchmarks), S1/S6/S7 by `final.final_scores` and P3 by
`payment.adjustment_factor_expr` with the run's scaling factor S. [DEFAULT] The pool's benchmarks and S
are held at the run's values: one participant's change is priced as if the pool stood still (a real
re-run moves S by the change's share of the pool, and a quality row entering the Q5 pool moves its
deciles). Levers are priced on the pool-based figure (participant_scores, payment_adjustments); the
rate needed on CMS's published benchmarks (V1) is shown beside the pool's.

Variants are scored together: each gets its own key (the participant's TIN tagged with the lever), so
every function runs once over all of them. No beneficiary id enters these tables (episodes are named
by episode id).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

from pipelines.engine.methodology import Methodology
from pipelines.engine.reference import COST_DRIVERS, SERVICE_CATEGORIES
from pipelines.engine.scoring import cost, final, payment, quality
from pipelines.engine.scoring.params import QualityRules, quality_params
from pipelines.engine.scoring.side_inputs import ATTESTATIONS, QUALITY
from pipelines.engine.tables import PARTICIPANT

SCORED = ("scored", "failed_minimum_submission")
NO_NON_CLAIMS = "no non-claims measure meeting Q3"  # final.final_scores' S6 reason
# lever kind -> its rule, in the order a table lists them
KINDS = {"ia": "S2", "pi": "S3", "minimum_submission": "S6", "measure_completeness": "Q3", "measure_cases": "Q4",
         "measure_decile": "Q5", "case_minimum": "R5", "excess_cost_episode": "R4"}
LEVER_COLUMNS = {
    "performance_year": pl.Int64, "cohort": pl.Utf8, "tin": pl.Utf8, "npi": pl.Utf8, "lever_id": pl.Utf8,
    "lever": pl.Utf8, "rule": pl.Utf8, "rank": pl.Int64, "description": pl.Utf8, "needed": pl.Utf8,
    "needed_value": pl.Float64, "measure_id": pl.Utf8, "collection_type": pl.Utf8, "rate_now": pl.Float64,
    "rate_needed_pool": pl.Float64, "rate_needed_cms": pl.Float64, "episode_id": pl.Utf8, "excess_cost": pl.Float64,
    "cost_drivers": pl.Utf8, "source_file": pl.Utf8, "source_row": pl.Int64, "source_column": pl.Utf8,
    "status": pl.Utf8, "status_after": pl.Utf8, "final_score": pl.Float64, "final_score_after": pl.Float64,
    "points_gained": pl.Float64, "adjustment_factor": pl.Float64, "adjustment_factor_after": pl.Float64,
    "factor_gained": pl.Float64, "dollar_impact": pl.Float64, "dollar_impact_after": pl.Float64,
    "dollars_gained": pl.Float64, "partb_paid": pl.Float64,
}
OVERRIDES = {"ia1_done": pl.Utf8, "ia2_done": pl.Utf8, "pi_score": pl.Float64, "add_attestation_row": pl.Boolean,
             "q_npi": pl.Utf8, "q_measure": pl.Utf8, "q_type": pl.Utf8, "q_rate": pl.Float64, "q_cases": pl.Float64,
             "q_completeness": pl.Float64, "measure_score_after": pl.Float64, "meets_case_minimum_after": pl.Boolean,
             "s6_met": pl.Boolean}


@dataclass
class LeverInputs:
    """The published tables and parsed side inputs levers read (pipelines.engine.steering.stage reads them)."""

    scores: pl.DataFrame  # participant_scores
    pay: pl.DataFrame  # payment_adjustments (the run's S per cohort)
    paid: pl.DataFrame  # tin, npi, partb_paid (P3's B of every TIN/NPI, also those without a payment row)
    measure_points: pl.DataFrame  # participant_measure_points (Q7's row per measure)
    quality_points: pl.DataFrame  # quality_measure_points (every accepted row)
    quality_benchmarks: pl.DataFrame
    cost_measures: pl.DataFrame  # cost_measure_scores
    cost_benchmarks: pl.DataFrame
    attestations: pl.DataFrame  # side_inputs.attestations (tin, attestation_row, ia1_done, ia2_done, pi_score, ...)
    submissions: pl.DataFrame  # side_inputs.quality_submissions (with source_row)
    episodes: pl.DataFrame  # PARTICIPANT, episode_id, observed_cost (winsorized), expected_cost, drivers columns
    cms_measure_points: pl.DataFrame | None = None  # projected_measure_points (V1)
    cms_benchmarks: pl.DataFrame | None = None  # projected_quality_benchmarks (V1)
    case_counts: pl.DataFrame | None = None  # projected_scores: PARTICIPANT, expected_episodes (V5, in-year)
    part_a: bool = False


# ------------------------------------------------------------------------------ the base and its re-scoring

def base_frame(inp: LeverInputs, m: Methodology, qp: QualityRules) -> pl.DataFrame:
    """One row per participant with every column final.final_scores reads, as the run scored it."""
    s = inp.scores
    scaling = inp.pay.group_by("cohort").agg(pl.col("scaling_factor").drop_nulls().first())
    non_claims = _quality_scores(_rate_rows(inp.quality_points), s.select(PARTICIPANT), inp.quality_benchmarks, qp)
    practice = final.practice_adjustments(inp.attestations, m.scoring).select("tin", "ia_attested", "ia_issue")
    return (s.join(scaling, on="cohort", how="left").join(practice, on="tin", how="left")
            .join(inp.paid.select("tin", "npi", "partb_paid"), on=["tin", "npi"], how="left")
            .join(non_claims.select(*PARTICIPANT, "has_non_claims_submission"), on=PARTICIPANT, how="left")
            .with_columns(
                (pl.col("status") != "not_eligible").alias("eligible"),
                pl.col("status_reason").alias("eligibility_reason"),
                (pl.col("episodes").fill_null(0) >= m.benchmarks.case_minimum).alias("meets_case_minimum"),
                pl.col("has_non_claims_submission").fill_null(False),
                pl.col("ia_attested").fill_null(False),  # S6: no attestation row for the TIN
            ))


def _rate_rows(quality_points: pl.DataFrame) -> pl.DataFrame:
    """quality_measure_points as rate rows again (Q2's figures, before Q3-Q5 are applied)."""
    return quality_points.select("performance_year", "cohort", "tin", "npi", "measure_id", "collection_type",
                                 "performance_rate", "data_completeness", "cases")


def _quality_scores(rows: pl.DataFrame, participants: pl.DataFrame, bench: pl.DataFrame,
                    qp: QualityRules) -> pl.DataFrame:
    """Q3-Q7 with the run's benchmarks: quality_score and has_non_claims_submission per participant."""
    points = quality.measure_points(quality.classify_rates(rows, qp), bench, qp)
    best = quality.best_points_per_measure(participants, points, qp)
    return quality.participant_quality(participants, best, qp)


def _tagged(frame: pl.DataFrame) -> pl.Expr:
    return pl.concat_str([pl.col("tin"), pl.col("npi").fill_null(""), pl.col("lever_id")], separator="#")


def rescore(base: pl.DataFrame, variants: pl.DataFrame, inp: LeverInputs, m: Methodology,
            qp: QualityRules) -> pl.DataFrame:
    """Every variant (PARTICIPANT + lever_id + OVERRIDES columns) scored again: status_after,
    final_score_after, adjustment_factor_after, dollar_impact_after, with the pool's benchmarks and S held."""
    sp = m.scoring
    v = variants.with_columns(_tagged(variants).alias("key"))
    frame = v.join(base, on=PARTICIPANT, how="left")

    # S2/S3: the TIN's attestation row with the variant's answers, through final.practice_adjustments
    att = v.filter(pl.col("ia1_done").is_not_null() | pl.col("ia2_done").is_not_null() | pl.col("pi_score").is_not_null())
    if att.height:
        rows = (att.select("key", "tin", pl.col("ia1_done").alias("ia1_new"), pl.col("ia2_done").alias("ia2_new"),
                           pl.col("pi_score").alias("pi_new"))
                .join(inp.attestations, on="tin", how="left")
                .select(pl.col("key").alias("tin"), pl.col("attestation_row").fill_null(0),
                        pl.coalesce("ia1_new", "ia1_done").alias("ia1_done"),
                        pl.coalesce("ia2_new", "ia2_done").alias("ia2_done"),
                        pl.coalesce("pi_new", "pi_score").alias("pi_score"), "reported_clinicians"))
        adj = final.practice_adjustments(rows, sp).select(
            pl.col("tin").alias("key"), pl.col("ia_attested").alias("_ia_attested"),
            pl.col("ia_issue").alias("_ia_issue"), pl.col("ia_adjustment").alias("_ia_adjustment"),
            pl.col("pi_adjustment").alias("_pi_adjustment"))
        frame = frame.join(adj, on="key", how="left").with_columns(
            pl.coalesce("_ia_attested", "ia_attested").alias("ia_attested"),
            pl.when(pl.col("_ia_attested").is_not_null()).then(pl.col("_ia_issue")).otherwise(pl.col("ia_issue"))
            .alias("ia_issue"),
            pl.coalesce("_ia_adjustment", "ia_adjustment").alias("ia_adjustment"),
            pl.coalesce("_pi_adjustment", "pi_adjustment").alias("pi_adjustment"),
        ).drop("_ia_attested", "_ia_issue", "_ia_adjustment", "_pi_adjustment")

    # Q3-Q7: the participant's quality rows (own and its TIN's) with the variant's row changed
    qv = v.filter(pl.col("q_measure").is_not_null())
    if qv.height:
        rows = _rate_rows(inp.quality_points)
        own = rows.filter(pl.col("npi").is_not_null()).join(qv.select(*PARTICIPANT, "key"), on=PARTICIPANT)
        tin_rows = rows.filter(pl.col("npi").is_null()).drop("npi").join(
            qv.select("performance_year", "cohort", "tin", "npi", "key"), on=["performance_year", "cohort", "tin"]
        ).with_columns(pl.lit(None, pl.Utf8).alias("npi")).select(own.columns)
        change = qv.select("key", "q_npi", "q_measure", "q_type", "q_rate", "q_cases", "q_completeness")
        hit = ((pl.col("measure_id") == pl.col("q_measure")) & (pl.col("collection_type") == pl.col("q_type"))
               & pl.col("npi").eq_missing(pl.col("q_npi")))
        changed = (pl.concat([own, tin_rows]).join(change, on="key", how="left").with_columns(
            pl.when(hit).then(pl.coalesce("q_rate", "performance_rate")).otherwise(pl.col("performance_rate"))
            .alias("performance_rate"),
            pl.when(hit).then(pl.coalesce("q_cases", "cases")).otherwise(pl.col("cases")).alias("cases"),
            pl.when(hit).then(pl.coalesce("q_completeness", "data_completeness")).otherwise(pl.col("data_completeness"))
            .alias("data_completeness"),
        ).with_columns(pl.col("key").alias("tin")).drop("key", "q_npi", "q_measure", "q_type", "q_rate", "q_cases",
                                                        "q_completeness"))
        people = qv.select("performance_year", "cohort", pl.col("key").alias("tin"), "npi")
        qs = _quality_scores(changed, people, inp.quality_benchmarks, qp).select(
            pl.col("tin").alias("key"), pl.col("quality_score").alias("_q"),
            pl.col("has_non_claims_submission").alias("_nc"))
        frame = frame.join(qs, on="key", how="left").with_columns(
            pl.coalesce("_q", "quality_score").alias("quality_score"),
            pl.coalesce("_nc", "has_non_claims_submission").alias("has_non_claims_submission")).drop("_q", "_nc")

    # R4-R5, B3: the variant's cost measure score and case count, against the run's B2 benchmarks
    frame = frame.with_columns(
        pl.coalesce("meets_case_minimum_after", "meets_case_minimum").alias("meets_case_minimum"),
        pl.coalesce("measure_score_after", "measure_score").alias("measure_score"))
    new_cost = pl.col("measure_score_after").is_not_null() | pl.col("meets_case_minimum_after").fill_null(False)
    repriced = cost.cost_points(frame.filter(new_cost).select("key", "performance_year", "cohort", "measure_score"),
                                inp.cost_benchmarks, m.benchmarks).select("key", pl.col("cost_score").alias("_c"))
    frame = frame.join(repriced, on="key", how="left").with_columns(
        pl.coalesce("_c", "cost_score").alias("cost_score")).drop("_c")

    # S6 as if its missing half were there (the terms held: what the participant would have scored)
    s6 = pl.col("s6_met").fill_null(False)
    frame = frame.with_columns(
        (pl.col("ia_attested") | s6).alias("ia_attested"),
        (pl.col("has_non_claims_submission") | s6).alias("has_non_claims_submission"),
        pl.col("quality_score").fill_null(0.0))
    scored = final.final_scores(frame.drop("status", "status_reason", "final_score"), sp)  # S1, S6, S7
    return scored.select(*PARTICIPANT, "lever_id", pl.col("status").alias("status_after"),
                         pl.col("final_score").alias("final_score_after"), "partb_paid", "scaling_factor").with_columns(
        payment.adjustment_factor_expr(m.payment, "final_score_after").alias("adjustment_factor_after")
    ).with_columns((pl.col("adjustment_factor_after") * pl.col("partb_paid")).alias("dollar_impact_after"))


def priced_now(base: pl.DataFrame, m: Methodology) -> pl.DataFrame:
    """The run's own figures per participant, priced the same way (P3 with the run's S)."""
    return base.select(*PARTICIPANT, "status", "final_score", "partb_paid", "scaling_factor").with_columns(
        payment.adjustment_factor_expr(m.payment).alias("adjustment_factor")).with_columns(
        (pl.col("adjustment_factor") * pl.col("partb_paid")).alias("dollar_impact")).drop("partb_paid", "scaling_factor")


# ------------------------------------------------------------------------------ the levers

def _variant(rows: pl.DataFrame, lever: str, lever_id: pl.Expr, **overrides: pl.Expr) -> pl.DataFrame:
    """Lever rows: PARTICIPANT, lever_id, lever, rule, the OVERRIDES (null unless given) and the columns
    `rows` already carry (description, needed, ...)."""
    cols = [pl.lit(lever).alias("lever"), pl.lit(KINDS[lever]).alias("rule"), lever_id.alias("lever_id")]
    cols += [overrides[c].cast(t).alias(c) if c in overrides else pl.lit(None, t).alias(c) for c, t in OVERRIDES.items()]
    return rows.with_columns(cols)


def _answer_words(col: str) -> pl.Expr:
    return pl.when(pl.col(col).is_null()).then(pl.lit("blank")).otherwise(pl.format("'{}'", pl.col(col)))


def attestation_levers(base: pl.DataFrame, inp: LeverInputs, m: Methodology) -> pl.DataFrame:
    """S2: each IA not done, answered done (a blank other answer answered N: an attestation); S3: PI 100."""
    sp = m.scoring
    done = sp.ia_done_answers[0]
    who = base.filter(pl.col("status").is_in(SCORED)).select(*PARTICIPANT, "pi_score").join(
        inp.attestations.drop("pi_score"), on="tin", how="left")
    out = []
    for k, col, other in ((1, "ia1_done", "ia2_done"), (2, "ia2_done", "ia1_done")):
        todo = who.filter(~pl.col(col).fill_null("").is_in(list(sp.ia_done_answers)))
        row = pl.col("attestation_row")
        out.append(_variant(todo.with_columns(
            pl.when(row.is_null()).then(pl.format(f"Attest IA-{k} as done: add the TIN's row to {ATTESTATIONS} "
                                                  f"(IA-{3 - k} answered N)"))
            .otherwise(pl.format(f"Attest IA-{k} as done ({ATTESTATIONS} row {{}}, {col}: now {{}})", row,
                                 _answer_words(col))).alias("description"),
            pl.lit(f"IA-{k} done").alias("needed"), pl.lit(ATTESTATIONS).alias("source_file"),
            row.alias("source_row"), pl.lit(col).alias("source_column")),
            "ia", pl.lit(f"ia{k}"), **{col: pl.lit(done), other: pl.coalesce(pl.col(other), pl.lit(
                sp.ia_not_done_answers[0]))}))
    gap = who.filter(pl.col("pi_score").is_null() | (pl.col("pi_score") < 100))
    out.append(_variant(gap.with_columns(
        pl.when(pl.col("pi_score").is_null()).then(pl.format(f"Report Promoting Interoperability at 100 (not reported; "
                                                             f"{ATTESTATIONS} row {{}}, pi_score blank)",
                                                             pl.col("attestation_row").cast(pl.Utf8).fill_null("none")))
        .otherwise(pl.format(f"Raise Promoting Interoperability from {{}} to 100 ({ATTESTATIONS} row {{}}, pi_score)",
                             pl.col("pi_score"), pl.col("attestation_row"))).alias("description"),
        pl.format("PI score +{}", (100 - pl.col("pi_score").fill_null(0)).round(1)).alias("needed"),
        (100 - pl.col("pi_score").fill_null(0)).alias("needed_value"), pl.lit(ATTESTATIONS).alias("source_file"),
        pl.col("attestation_row").alias("source_row"), pl.lit("pi_score").alias("source_column")),
        "pi", pl.lit("pi"), pi_score=pl.lit(100.0)))
    return pl.concat(out, how="diagonal_relaxed")


def minimum_submission_levers(base: pl.DataFrame, inp: LeverInputs, m: Methodology) -> pl.DataFrame:
    """S6: what a participant scored 0 would have scored with the same terms, and the cell that caused the 0
    (the blank IA answer or missing attestation row; else the non-claims rows below Q3, or none submitted)."""
    failed = base.filter(pl.col("status") == "failed_minimum_submission").select(*PARTICIPANT, "status_reason")
    if failed.height == 0:
        return pl.DataFrame()
    att = inp.attestations.select("tin", "attestation_row", "ia1_done", "ia2_done")
    claims = list(m.quality.claims_collection_types)
    below = (inp.submissions.filter(~pl.col("collection_type").is_in(claims))
             .with_columns(((pl.col("performance_met") + pl.col("performance_not_met") + pl.col("denominator_exceptions"))
                            / pl.col("eligible_population")).alias("completeness"))
             .filter(pl.col("completeness") < m.quality.min_data_completeness))
    own_rows = below.filter(pl.col("npi").is_not_null()).group_by("tin", "npi").agg(pl.col("source_row").min())
    tin_rows = below.filter(pl.col("npi").is_null()).group_by("tin").agg(pl.col("source_row").min().alias("tin_row"))
    f = (failed.join(att, on="tin", how="left").join(own_rows, on=["tin", "npi"], how="left")
         .join(tin_rows, on="tin", how="left"))
    ia_cause = pl.col("status_reason").str.contains("IA|attestation")
    blank_col = pl.when(pl.col("ia1_done").is_null()).then(pl.lit("ia1_done")).otherwise(pl.lit("ia2_done"))
    q_row = pl.coalesce("source_row", "tin_row")
    f = f.with_columns(
        pl.when(ia_cause).then(pl.lit(ATTESTATIONS)).when(q_row.is_not_null()).then(pl.lit(QUALITY))
        .alias("source_file"),
        pl.when(ia_cause).then(pl.col("attestation_row")).otherwise(q_row).alias("source_row"),
        pl.when(ia_cause & pl.col("attestation_row").is_not_null()).then(blank_col)
        .when(~ia_cause & q_row.is_not_null()).then(pl.lit("eligible_population")).alias("source_column"),
    ).with_columns(
        pl.when(ia_cause & pl.col("attestation_row").is_null())
        .then(pl.format(f"Minimum submission: no row for the TIN in {ATTESTATIONS}: add it with both IA answers"))
        .when(ia_cause).then(pl.format(f"Minimum submission: {ATTESTATIONS} row {{}}, {{}} is blank: answer it (N counts)",
                                       pl.col("attestation_row"), blank_col))
        .when(q_row.is_not_null()).then(pl.format(f"Minimum submission: no measure outside claims meets the completeness minimum; "
                                                  f"{QUALITY} row {{}} is below {m.quality.min_data_completeness:.0%} "
                                                  "completeness", q_row))
        .otherwise(pl.lit(f"Minimum submission: no measure outside claims submitted in {QUALITY}: submit one with at least "
                       f"{m.quality.min_data_completeness:.0%} completeness"))
        .alias("description"),
        pl.lit("the minimum submission").alias("needed"))
    return _variant(f.drop("status_reason", "attestation_row", "ia1_done", "ia2_done", "tin_row"),
                    "minimum_submission", pl.lit("minimum_submission"), s6_met=pl.lit(True))


def quality_levers(base: pl.DataFrame, inp: LeverInputs, m: Methodology, qp: QualityRules) -> pl.DataFrame:
    """Q3/Q4: a measure earning 0 for completeness or cases, brought to the minimum at its rate; Q5: the rate
    reaching the next decile of the pool's benchmark (and the rate on CMS's published one, V1)."""
    who = base.filter(pl.col("status").is_in(SCORED)).select(PARTICIPANT)
    best = inp.measure_points.join(who, on=PARTICIPANT).filter(pl.col("measure_scored") & pl.col("collection_type").is_not_null())
    q_npi = pl.when(pl.col("submitted_as") == "tin").then(pl.lit(None, pl.Utf8)).otherwise(pl.col("npi"))
    subs = inp.submissions.select(pl.col("tin"), pl.col("npi").alias("q_npi"), "measure_id", "collection_type",
                                  "source_row", "eligible_population", "performance_met", "performance_not_met",
                                  "denominator_exceptions")
    best = best.with_columns(q_npi.alias("q_npi")).join(
        subs, on=["tin", "q_npi", "measure_id", "collection_type"], how="left", nulls_equal=True)
    where = pl.when(pl.col("source_row").is_not_null()).then(
        pl.format(f" ({QUALITY} row {{}})", pl.col("source_row"))).otherwise(pl.lit(" (computed from claims)"))
    common = dict(source_file=pl.when(pl.col("source_row").is_not_null()).then(pl.lit(QUALITY)))
    out = []
    # Q4 / Q3
    short = best.filter(pl.col("zero_reason").is_in(["Q3_completeness_below_minimum", "Q4_below_case_minimum"]))
    reported = pl.col("performance_met") + pl.col("performance_not_met") + pl.col("denominator_exceptions")
    for lever, reason in (("measure_cases", "Q4_below_case_minimum"), ("measure_completeness", "Q3_completeness_below_minimum")):
        rows = short.filter(pl.col("zero_reason") == reason)
        if lever == "measure_cases":
            needed = (qp.min_cases - pl.col("cases")).clip(0, None)
            rows = rows.with_columns(needed.alias("needed_value"), pl.format(
                "Report {} more case(s) of {} {} (now {}; the minimum is {})", needed.cast(pl.Int64), pl.col("measure_id"),
                pl.col("collection_type"), pl.col("cases").cast(pl.Int64), pl.lit(qp.min_cases)).alias("_d"))
        else:
            target = (pl.col("eligible_population") * qp.min_data_completeness).ceil()
            needed = (target - reported).clip(0, None)
            rows = rows.with_columns(needed.alias("needed_value"), pl.format(
                "Report {} more of the eligible population of {} {} (completeness now {}%, the minimum is {}%)",
                needed.cast(pl.Int64), pl.col("measure_id"), pl.col("collection_type"),
                (pl.col("data_completeness") * 100).round(1), pl.lit(round(qp.min_data_completeness * 100, 1))).alias("_d"))
        rows = rows.with_columns((pl.col("_d") + where).alias("description"),
                                 pl.format("{} more", pl.col("needed_value").cast(pl.Int64)).alias("needed"),
                                 pl.col("performance_rate").alias("rate_now"), pl.lit("cases").alias("source_column"),
                                 **common)
        out.append(_variant(rows, lever, pl.format(f"{lever}:{{}}:{{}}", pl.col("measure_id"), pl.col("collection_type")),
                            q_npi=pl.col("q_npi"), q_measure=pl.col("measure_id"), q_type=pl.col("collection_type"),
                            q_cases=pl.max_horizontal("cases", pl.lit(float(qp.min_cases))),
                            q_completeness=pl.max_horizontal("data_completeness", pl.lit(qp.min_data_completeness))))
    # Q5: the next decile of the pool's benchmark; a boundary rate belongs to the better decile (Q5)
    up = best.filter(pl.col("decile").is_not_null() & (pl.col("decile") < 10) & (pl.col("points") > 0)).join(
        inp.quality_benchmarks.select("performance_year", "cohort", "measure_id", "collection_type",
                                      *[f"d{k}" for k in range(1, 10)]),
        on=["performance_year", "cohort", "measure_id", "collection_type"], how="left")
    boundary = pl.lit(None, pl.Float64)
    for k in range(1, 10):
        boundary = pl.when(pl.col("decile") == k).then(pl.col(f"d{k}")).otherwise(boundary)
    up = up.with_columns(boundary.alias("rate_needed_pool")).filter(pl.col("rate_needed_pool").is_not_null())
    up = _with_cms_rate(up, inp)
    up = up.with_columns(
        pl.format("Improve {} {} from {}% to {}% (decile {} to {} of the pool's benchmark{})", pl.col("measure_id"),
                  pl.col("collection_type"), (pl.col("performance_rate") * 100).round(1),
                  (pl.col("rate_needed_pool") * 100).round(1), pl.col("decile"), pl.col("decile") + 1,
                  pl.when(pl.col("rate_needed_cms").is_not_null()).then(pl.format(
                      "; CMS's next decile at {}%", (pl.col("rate_needed_cms") * 100).round(1))).otherwise(pl.lit("")))
        .alias("description"),
        pl.format("rate {}%", (pl.col("rate_needed_pool") * 100).round(1)).alias("needed"),
        pl.col("rate_needed_pool").alias("needed_value"), pl.col("performance_rate").alias("rate_now"),
        pl.lit("performance_met").alias("source_column"), **common)
    out.append(_variant(up, "measure_decile", pl.format("measure_decile:{}:{}", pl.col("measure_id"),
                                                        pl.col("collection_type")),
                        q_npi=pl.col("q_npi"), q_measure=pl.col("measure_id"), q_type=pl.col("collection_type"),
                        q_rate=pl.col("rate_needed_pool")))
    keep = ["measure_id", "collection_type", "rate_now", "rate_needed_pool", "rate_needed_cms", "needed_value"]
    return pl.concat([o.select(*PARTICIPANT, *[c for c in o.columns if c not in PARTICIPANT and (
        c in OVERRIDES or c in keep or c in ("lever", "rule", "lever_id", "description", "needed", "source_file",
                                              "source_row", "source_column"))]) for o in out if o.height],
                     how="diagonal_relaxed") if any(o.height for o in out) else pl.DataFrame()


def _with_cms_rate(up: pl.DataFrame, inp: LeverInputs) -> pl.DataFrame:
    """V1: the rate reaching the next decile on CMS's published benchmark (in rate units), where there is one."""
    if inp.cms_measure_points is None or inp.cms_benchmarks is None:
        return up.with_columns(pl.lit(None, pl.Float64).alias("rate_needed_cms"))
    b = inp.cms_benchmarks.filter(pl.col("no_benchmark_reason").is_null()).select(
        "performance_year", "cohort", "measure_id", "collection_type", "rate_scale",
        *[pl.col(f"d{k}").alias(f"c{k}") for k in range(1, 10)])
    cms = inp.cms_measure_points.filter(pl.col("source") == "cms").select(
        *PARTICIPANT, "measure_id", pl.col("collection_type").alias("cms_type"), "projected_decile")
    rate = pl.lit(None, pl.Float64)
    for k in range(1, 10):
        rate = pl.when(pl.col("projected_decile") == k).then(pl.col(f"c{k}") / pl.col("rate_scale").fill_null(1.0)
                                                            ).otherwise(rate)
    got = cms.join(b, left_on=["performance_year", "cohort", "measure_id", "cms_type"],
                   right_on=["performance_year", "cohort", "measure_id", "collection_type"], how="inner"
                   ).select(*PARTICIPANT, "measure_id", rate.alias("rate_needed_cms"))
    return up.join(got, on=[*PARTICIPANT, "measure_id"], how="left")


def cost_levers(base: pl.DataFrame, inp: LeverInputs, m: Methodology) -> pl.DataFrame:
    """R5: episodes needed to reach the case minimum (scored at the current cost measure score, the complex
    bonus held); R4/B3: the episodes with the largest excess cost, each brought to its expected cost."""
    out = []
    cmin = m.benchmarks.case_minimum
    short = base.filter((pl.col("status") == "below_case_minimum")).select(*PARTICIPANT, "episodes", "measure_score")
    if inp.case_counts is not None and inp.case_counts.height:  # V5: open episodes expected to close count
        short = short.join(inp.case_counts.select(*PARTICIPANT, "expected_episodes"), on=PARTICIPANT, how="left")
    else:
        short = short.with_columns(pl.lit(0).alias("expected_episodes"))
    if short.height:
        closed, expected = pl.col("episodes").fill_null(0).cast(pl.Int64), pl.col("expected_episodes").fill_null(0)
        need = (cmin - closed - expected).clip(0, None)
        now = pl.when(expected > 0).then(pl.format("{} closed, {} open expected to close", closed, expected)).otherwise(
            pl.format("now {}", closed))
        out.append(_variant(short.with_columns(
            need.cast(pl.Float64).alias("needed_value"),
            pl.when(need > 0).then(pl.format("{} more episode(s)", need)).otherwise(pl.lit("none: on track"))
            .alias("needed"),
            pl.format("Reach {} attributed episodes ({}): scored at today's cost measure score",
                      pl.lit(cmin), now).alias("description")).drop("episodes", "measure_score", "expected_episodes"),
            "case_minimum", pl.lit("case_minimum"), meets_case_minimum_after=pl.lit(True)))
    k = m.steering.excess_cost_episodes
    pool = base.filter(pl.col("cost_score").is_not_null() & pl.col("status").is_in(SCORED)).select(PARTICIPANT)
    if k and pool.height and inp.episodes.height:
        eps = inp.episodes.join(pool, on=PARTICIPANT).with_columns(
            (pl.col("observed_cost") - pl.col("expected_cost")).alias("excess_cost")).filter(pl.col("excess_cost") > 0)
        top = (eps.sort([*PARTICIPANT, "excess_cost", "episode_id"], descending=[False] * 4 + [True, False])
               .group_by(PARTICIPANT, maintain_order=True).head(k)
               .with_columns(pl.int_range(1, pl.len() + 1).over(PARTICIPANT).alias("_n")))
        sums = inp.cost_measures.select(*PARTICIPANT, pl.col("observed_cost").alias("_obs"),
                                        pl.col("expected_cost").alias("_exp"), "cohort_mean_cost")
        top = top.join(sums, on=PARTICIPANT, how="left").with_columns(
            ((pl.col("_obs") - pl.col("excess_cost")) / pl.col("_exp") * pl.col("cohort_mean_cost")).alias("_ms"))
        top = top.with_columns(_drivers(top).alias("cost_drivers")).with_columns(
            # no episode id in the text (issue 19 item 9): the reports prefix the keyed id (reports/episode_ids.py)
            pl.format("Observed ${} vs expected ${} (excess ${}); drivers: {}",
                      pl.col("observed_cost").round(0).cast(pl.Int64), pl.col("expected_cost").round(0).cast(pl.Int64),
                      pl.col("excess_cost").round(0).cast(pl.Int64), pl.col("cost_drivers")).alias("description"),
            pl.lit("this episode at its expected cost").alias("needed"), pl.col("excess_cost").alias("needed_value"))
        out.append(_variant(top.select(*PARTICIPANT, "episode_id", "excess_cost", "cost_drivers", "description", "needed",
                                       "needed_value", "_ms", "_n"), "excess_cost_episode",
                            pl.format("excess_cost_episode:{}", pl.col("_n")), measure_score_after=pl.col("_ms")
                            ).drop("_ms", "_n"))
    return pl.concat(out, how="diagonal_relaxed") if out else pl.DataFrame()


def _drivers(eps: pl.DataFrame) -> pl.Expr:
    """C3 in words: the episode's largest service category and its driver flags (reference.COST_DRIVERS)."""
    cats = [c for c in SERVICE_CATEGORIES if f"cost_{c}" in eps.columns]
    parts = []
    if cats:
        top = pl.lit(None, pl.Utf8)
        biggest = pl.max_horizontal([pl.col(f"cost_{c}") for c in cats])
        for c in reversed(cats):
            top = pl.when(pl.col(f"cost_{c}") == biggest).then(pl.lit(SERVICE_CATEGORIES[c])).otherwise(top)
        parts.append(pl.format("largest category {} ${}", top, biggest.round(0).cast(pl.Int64)))
    for col, (words, _cohort) in COST_DRIVERS.items():
        if col in eps.columns:
            v = pl.col(col).cast(pl.Int64)
            parts.append(pl.when(v > 0).then(pl.format(f"{words} {{}}", v) if eps.schema[col] != pl.Boolean
                                              else pl.lit(words)))
    return pl.concat_str(parts, separator="; ", ignore_nulls=True) if parts else pl.lit("")


# ------------------------------------------------------------------------------ the tables

def improvement_levers(inp: LeverInputs, m: Methodology) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(improvement_levers: participant x lever, ranked; improvement_levers_tin: TIN x lever kind)."""
    qp = quality_params(m, part_a_supplied=inp.part_a)
    base = base_frame(inp, m, qp)
    parts = [p for p in (attestation_levers(base, inp, m), minimum_submission_levers(base, inp, m),
                         quality_levers(base, inp, m, qp), cost_levers(base, inp, m)) if p.height]
    if not parts:
        return pl.DataFrame(schema=LEVER_COLUMNS), tin_rollup(pl.DataFrame(schema=LEVER_COLUMNS))
    variants = pl.concat(parts, how="diagonal_relaxed")
    after = rescore(base, variants, inp, m, qp)
    now = priced_now(base, m)
    out = (variants.join(after, on=[*PARTICIPANT, "lever_id"], how="left").join(now, on=PARTICIPANT, how="left")
           .with_columns((pl.col("final_score_after") - pl.col("final_score").fill_null(0.0)).alias("points_gained"),
                         (pl.col("adjustment_factor_after") - pl.col("adjustment_factor").fill_null(0.0)).alias("factor_gained"),
                         (pl.col("dollar_impact_after").fill_null(0.0) - pl.col("dollar_impact").fill_null(0.0))
                         .alias("dollars_gained")))
    out = out.with_columns(pl.when(pl.col("final_score_after").is_null()).then(None).otherwise(pl.col("dollars_gained"))
                           .alias("dollars_gained"))
    out = rank_within(out, PARTICIPANT, [pl.col("points_gained").fill_null(-1e9),
                                         pl.col("dollars_gained").fill_null(-1e18)], "lever_id")
    for c, t in LEVER_COLUMNS.items():
        if c not in out.columns:
            out = out.with_columns(pl.lit(None, t).alias(c))
    out = out.select([pl.col(c).cast(t) for c, t in LEVER_COLUMNS.items()]).sort(*PARTICIPANT, "rank")
    return out, tin_rollup(out)


def rank_within(frame: pl.DataFrame, keys: list[str], by: list[pl.Expr], tie: str) -> pl.DataFrame:
    """Rank 1, 2, ... within `keys` by `by` (descending), ties broken by `tie` (ascending): the same ranks
    whatever order the rows arrive in (reruns and shards agree)."""
    return (frame.sort([*keys, *by, tie], descending=[False] * len(keys) + [True] * len(by) + [False])
            .with_columns(pl.int_range(1, pl.len() + 1).over(keys).cast(pl.Int64).alias("rank")))


def tin_rollup(levers: pl.DataFrame) -> pl.DataFrame:
    """Per TIN and lever kind: the participants it applies to and the points and dollars it gains summed over
    them (the pool held), ranked by dollars within the TIN."""
    keys = ["performance_year", "tin", "lever"]
    out = levers.group_by(keys).agg(
        pl.col("rule").first(), pl.len().alias("levers"), pl.struct("cohort", "npi").n_unique().alias("participants"),
        pl.col("points_gained").sort().sum().alias("points_gained"),
        pl.col("dollars_gained").sort().sum().alias("dollars_gained"))
    return rank_within(out, ["performance_year", "tin"], [pl.col("dollars_gained").fill_null(-1e18),
                                                         pl.col("points_gained").fill_null(-1e9)], "lever").select(
        "performance_year", "tin", "lever", "rule", "rank", "participants", "levers", "points_gained",
        "dollars_gained").sort("performance_year", "tin", "rank")
