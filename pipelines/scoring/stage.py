"""Scoring stage: eligibility (G1-G4), risk adjustment (R1-R3), cost measure scores and benchmarks
(R4-R5, B1-B4), quality (Q2-Q7, Q6 from Part A), final scores (S1-S7), payment adjustments (P1-P4)
and the summary tables reports render.

The formulas are the rule modules of this package (pure Polars); this module reads their inputs
(`pipelines.scoring.inputs`) and chains them. Participant-level tables never carry beneficiary ids.
"""
from __future__ import annotations

import polars as pl

from pipelines.methodology import BenchmarkParams, Methodology
from pipelines.reference import read_code_lists, resolve_dir
from pipelines.scoring import admissions, cost, eligibility as elig, final, payment, quality, risk, summaries
from pipelines.scoring.inputs import (PARTICIPANT, attributed_counts, part_a_supplied, participant_paid,
                                      partb_query, read_side_csv, read_table, relation, restrict_tins,
                                      scoring_episodes, side_inputs_status)
from pipelines.scoring.params import quality_params
from pipelines.settings import RunSettings

SCORING_TABLES = ("cost_measure_scores", "cost_benchmarks", "quality_benchmarks", "quality_measure_points",
                  "participant_measure_points", "participant_scores", "payment_adjustments", "episode_admissions",
                  "admission_rates", "score_distribution", "tin_summary", "tin_cost_drivers", "cohort_summary",
                  "cohort_cost_drivers")


# ------------------------------------------------------------------------------------------ eligibility

def compute_eligibility(settings: RunSettings, m: Methodology) -> tuple[pl.DataFrame, dict]:
    """G1-G4 per TIN/NPI that bills Part B in the PY or has an attributed episode."""
    p = m.eligibility
    py = settings.performance_year
    ref = py - p.reference_year_offset
    spec_counts = partb_query(settings, "62_npi_specialty_counts.sql", reference_year=ref, performance_year=py)
    zip_counts = partb_query(settings, "63_npi_zip_counts.sql", reference_year=ref, performance_year=py)
    billing = participant_paid(settings, py)
    counts = attributed_counts(settings, scoring_episodes(settings), py)
    att_all = read_table(settings, "episode_attribution", ["tin", "npi"]).unique()
    tin_npis = pl.concat([billing.select("tin", "npi"), att_all]).unique()
    providers = read_side_csv(settings, "providers.csv", ["npi", "zip5"])
    if providers is not None:
        providers = providers.with_columns(pl.col("zip5").str.slice(0, 5))
    zip_cbsa = read_side_csv(settings, "zip_cbsa.csv", ["zip5", "cbsa_code"])
    selected = read_side_csv(settings, "asm_selected_cbsas.csv", ["cbsa_code"])
    location = elig.npi_location(tin_npis.select("npi"), elig.zip_by_plurality(zip_counts, py, p), providers,
                                 zip_cbsa, selected, p)
    table = elig.eligibility(tin_npis, elig.specialty_by_plurality(spec_counts, py, p), location, counts,
                             m.benchmarks.case_minimum, p)
    table = table.with_columns(pl.lit(py).alias("performance_year"))
    info = {"reference_year": ref, "specialty_fallback_npis": int(table["specialty_year_fallback"].fill_null(False).sum()),
            "location_unknown": bool(zip_cbsa is None or selected is None)}
    return table, info


# ------------------------------------------------------------------------------------------ risk

def compute_episode_risk(settings: RunSettings, m: Methodology,
                         eligibility_table: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """R1-R3 per episode: covariates, HCCs and risk score, expected cost; and the R2 models'
    coefficients (risk_models), so an expected cost can be re-derived."""
    p = m.risk
    episodes = scoring_episodes(settings)
    costs = read_table(settings, "episode_costs", ["episode_id", "observed_cost_winsorized"])
    benes = read_table(settings, "beneficiaries") if settings.warehouse.exists("beneficiaries") else None
    if benes is not None and benes.height == 0:
        benes = None
    dx = partb_query(settings, "61_episode_diagnoses.sql", episodes=relation(settings, "episodes"),
                     parta_diagnoses=relation(settings, "parta_diagnoses"), lookback_days=p.lookback_days)
    frame = risk.demographics(episodes, benes, p).join(dx, on="episode_id", how="left").with_columns(
        pl.col("dx").fill_null([]))
    frame = pl.concat([frame, risk.hcc_scores(frame, p)], how="horizontal")
    spec = eligibility_table.select(pl.col("npi").alias("trigger_npi"), "specialty").unique("trigger_npi")
    frame = (frame.join(costs, on="episode_id", how="left").join(spec, on="trigger_npi", how="left")
             .with_columns(pl.col("observed_cost_winsorized").cast(pl.Float64),
                           (pl.col("fit") & pl.col("observed_cost_winsorized").is_not_null()).alias("fit")))
    # one row order whatever the join order, so the R2 fit gives the same bits on every run (issue 11)
    predicted, models = risk.expected_costs(frame.sort("episode_id"), p)
    frame = risk.specialty_adjustment(predicted, p)
    return frame.select(
        "episode_id", "cohort", "performance_year", "status", "excluded", "fit", "age_band", "female", "dual",
        "disabled", "esrd", pl.col("hccs").list.join(" ").alias("hcc_list"), pl.col("hccs").list.len().alias("hcc_count"),
        "risk_score", "specialty", "observed_cost_winsorized", "predicted_cost", "specialty_oe", "expected_cost",
        "model", "model_episodes", "model_covariates",
    ).sort("episode_id"), models


# ------------------------------------------------------------------------------------------ scores

def _participants(cms: pl.DataFrame, eligibility_table: pl.DataFrame, py: int) -> pl.DataFrame:
    """Everyone with attributed episodes, plus eligible-specialty clinicians billing in the PY, with
    their R4-R5 figures and G1-G3 eligibility."""
    others = eligibility_table.filter(pl.col("cohort").is_not_null()).select(
        pl.lit(py, pl.Int64).alias("performance_year"), "cohort", "tin", "npi")
    parts = pl.concat([cms.select(PARTICIPANT), others], how="vertical_relaxed").unique()
    frame = (parts.join(cms.drop("performance_year"), on=["cohort", "tin", "npi"], how="left")
             .with_columns(pl.col("episodes").fill_null(0), pl.col("scored").fill_null(False)))
    return elig.participant_eligibility(frame, eligibility_table).with_columns(
        pl.col("scored").alias("meets_case_minimum"))


def _cost_points(frame: pl.DataFrame, cp: BenchmarkParams) -> tuple[pl.DataFrame, pl.DataFrame]:
    """B1-B4: the pool is eligible participants meeting R5; points only for pool members."""
    in_pool = pl.col("eligible") & pl.col("meets_case_minimum")
    bench = cost.cost_benchmarks(frame.filter(in_pool), cp)
    frame = cost.cost_points(frame, bench, cp).with_columns(
        pl.when(in_pool).then(pl.col("cost_points")).alias("cost_points"),
    ).with_columns((pl.col("cost_points") / 10.0).alias("cost_score"))
    return frame, bench


def _quality(settings: RunSettings, m: Methodology, frame: pl.DataFrame, er: pl.DataFrame,
             attributed: pl.DataFrame, has_part_a: bool) -> dict:
    """Q2-Q7 (Q6 from Part A when supplied): rates, benchmarks, points, best points per measure."""
    py = settings.performance_year
    qp = quality_params(m, part_a_supplied=has_part_a)
    subs = quality.read_submissions(read_side_csv(settings, "quality_submissions.csv",
                                                  list(quality.SUBMISSION_COLUMNS)), py)
    part_a_measures = list(m.quality.part_a_measures)
    replaced = 0
    if has_part_a:  # Q6: the Part A measure is computed from claims; submitted rows for it are replaced
        subs, replaced = quality.drop_measures(subs, part_a_measures)
    rates = quality.measure_rates(subs, qp)
    if has_part_a:
        adm_episodes, adm_rates = _admissions(settings, m, er, attributed)
        q6_rows = quality.classify_rates(admissions.measure_rows(adm_rates, m.admissions), qp)
        rates = pl.concat([rates, q6_rows], how="diagonal_relaxed")
    else:
        adm_episodes, adm_rates = admissions.empty_tables()
    bench = quality.quality_benchmarks(rates, qp)
    points = quality.measure_points(rates, bench, qp)
    best = quality.best_points_per_measure(frame, points, qp)
    breakdown = quality.measure_breakdown(frame, best, qp, tuple(part_a_measures), has_part_a)
    return {"qp": qp, "benchmarks": bench, "points": points, "breakdown": breakdown, "submissions": subs.height,
            "replaced": replaced, "part_a_measures": part_a_measures, "admission_episodes": adm_episodes,
            "admission_rates": adm_rates,
            "participant": quality.participant_quality(frame, best, qp).select(
                "cohort", "tin", "npi", "quality_points", "measures_scored", "measures_submitted", "quality_score",
                "has_non_claims_submission")}


def _admissions(settings: RunSettings, m: Methodology, er: pl.DataFrame,
                attributed: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Q6 over the PY's scored HF episodes (er: episode_risk rows with fit and the run's PY)."""
    ap = m.admissions
    eps = read_table(settings, "episodes", ["episode_id", "bene_id", "start_date", "end_date"])
    eps = eps.join(er.filter(pl.col("cohort") == ap.cohort).select("episode_id", "performance_year", "cohort"),
                   on="episode_id", how="inner")
    claims = read_table(settings, "parta_claims", ["bene_id", "claim_control_number", "claim_type", "from_date",
                                                   "principal_dx", "admission_type"])
    hf_dx = read_code_lists(resolve_dir(m.episodes.code_list_dir), "diagnosis", ap.cohort)
    return admissions.compute(eps, er, attributed.select(*PARTICIPANT, "episode_id"), claims, hf_dx,
                              m.risk, ap)


def compute_scores(settings: RunSettings, m: Methodology) -> tuple[dict[str, pl.DataFrame], dict]:
    py = settings.performance_year
    has_part_a = part_a_supplied(settings)
    cp, sp, pp = m.benchmarks, m.scoring, m.payment
    er = read_table(settings, "episode_risk").filter(pl.col("fit") & (pl.col("performance_year") == py))
    eligibility_table = read_table(settings, "eligibility")
    scored_eps = er.select("episode_id", "performance_year", "cohort",
                           pl.col("observed_cost_winsorized").alias("observed_cost"), "expected_cost",
                           "risk_score", "dual")
    attributed = (read_table(settings, "episode_attribution", ["episode_id", "tin", "npi", "attributed"])
                  .filter(pl.col("attributed")).join(scored_eps, on="episode_id"))

    cms = cost.cost_measure_scores(attributed, cost.cohort_mean_cost(scored_eps), cp)  # R4-R5
    frame = _participants(cms, eligibility_table, py)
    frame, bench = _cost_points(frame, cp)  # B1-B4
    q = _quality(settings, m, frame, er, attributed, has_part_a)  # Q2-Q7
    frame = frame.join(q["participant"], on=["cohort", "tin", "npi"], how="left")

    billing = participant_paid(settings, py)
    frame = final.with_practice_adjustments(  # S2, S3, S5
        frame, final.practice_adjustments(read_side_csv(settings, "practice_attestations.csv", final.ATTESTATION_COLUMNS),
                                          py, sp),
        billing.group_by("tin").agg(pl.col("npi").n_unique().alias("billing_clinicians")), sp)
    frame = final.with_complex_bonus(frame, attributed.group_by(PARTICIPANT).agg(  # S4
        pl.col("risk_score").sort().mean().alias("mean_risk_score"),
        pl.col("dual").cast(pl.Float64).mean().alias("dual_share")),
        sp)
    frame = final.final_scores(frame.with_columns(  # S1, S6, S7
        pl.col("quality_score").fill_null(0.0), pl.col("has_non_claims_submission").fill_null(False)), sp)
    frame = frame.join(billing.select("tin", "npi", "partb_paid"), on=["tin", "npi"], how="left")

    scores = frame.select(
        "performance_year", "cohort", "tin", "npi", "quality_score", "quality_points", "measures_scored",
        "cost_points", "cost_score", "ia_adjustment", "pi_adjustment", "pi_score", "complex_bonus",
        "mean_risk_score", "dual_share", "small_practice_bonus", "clinician_count", "clinician_count_source",
        "final_score", "status", "status_reason", "episodes", "measure_score",
    ).sort(PARTICIPANT)
    pay = payment.payment_adjustments(  # P1-P4
        frame.filter(pl.col("final_score").is_not_null()).select(*PARTICIPANT, "final_score", "partb_paid"), pp)
    budget = payment.budget_check(pay, pp)
    pay = pay.select(*PARTICIPANT, "final_score", "transformed_score", "risk_level", "scaling_factor",
                     "unclipped_factor", "adjustment_factor", "partb_paid", "dollar_impact", "in_payment_pool"
                     ).sort(PARTICIPANT)

    facts = summaries.RunFacts(
        performance_year=py, part_a=has_part_a, small_pool=m.benchmarks.small_pool_participants,
        not_scored_measures=q["qp"].not_scored_measures, part_a_measures=tuple(q["part_a_measures"]),
        cost_basis=summaries.cost_basis(settings), required_measures=q["qp"].required_measures)
    drivers = summaries.cost_drivers(settings, er.select("episode_id"))
    tables = {
        "cost_measure_scores": restrict_tins(cms.filter(pl.col("performance_year") == py), settings),
        "cost_benchmarks": bench,
        "quality_benchmarks": q["benchmarks"],
        "quality_measure_points": restrict_tins(q["points"].select(
            "performance_year", "cohort", "tin", "npi", "measure_id", "collection_type", "performance_rate",
            "data_completeness", "cases", "decile", "points", "zero_reason"), settings),
        "participant_measure_points": restrict_tins(q["breakdown"], settings),
        "participant_scores": restrict_tins(scores, settings),
        "payment_adjustments": restrict_tins(pay, settings),
        "episode_admissions": q["admission_episodes"],
        "admission_rates": restrict_tins(q["admission_rates"], settings),
        "score_distribution": summaries.score_distribution(scores, pay),
        "tin_summary": restrict_tins(summaries.tin_summary(scores, pay, bench, facts), settings),
        "tin_cost_drivers": restrict_tins(drivers.by_tin, settings),
        "cohort_summary": summaries.cohort_summary(bench, drivers.by_cohort, eligibility_table, facts),
        "cohort_cost_drivers": drivers.by_cohort,
    }
    info = {"budget": budget, "part_a": has_part_a, "replaced_part_a_submissions": q["replaced"],
            "part_a_measures": q["part_a_measures"], "small_pool": facts.small_pool,
            "submissions": q["submissions"], "status_counts": dict(scores.group_by("status").len().iter_rows()),
            "side_inputs": side_inputs_status(settings)}
    return tables, info
