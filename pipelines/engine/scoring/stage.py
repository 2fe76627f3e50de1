"""Scoring stage: eligibility (G1-G4), risk adjustment (R1-R3), cost measure scores and benchmarks
(R4-R5, B1-B4), quality (Q2-Q7, Q6 from Part A), final scores (S1-S7), payment adjustments (P1-P4)
and the summary tables reports render.

The formulas are the rule modules of this package (pure Polars); this module reads their inputs
(`pipelines.engine.scoring.inputs`) and chains them. Participant-level tables never carry beneficiary ids.
"""
from __future__ import annotations

import polars as pl

from pipelines.engine.methodology import BenchmarkParams, Methodology
from pipelines.engine.reference import read_code_lists, resolve_dir
from pipelines.engine.scoring import admissions, cost, eligibility as elig, final, payment, quality, risk, side_inputs, summaries
from pipelines.engine.scoring.inputs import (PARTICIPANT, attributed_counts, part_a_supplied, participant_paid,
                                      keep_other_tins, partb_query, read_table, relation, restrict_tins,
                                      scoring_episodes, side_inputs_status)
from pipelines.engine.scoring.params import quality_params
from pipelines.engine.settings import RunSettings

SCORING_TABLES = ("cost_measure_scores", "cost_benchmarks", "quality_benchmarks", "quality_measure_points",
                  "quality_submission_issues", "participant_measure_points", "participant_scores",
                  "payment_adjustments", "episode_admissions", "admission_rates", "score_distribution", "tin_summary",
                  "tin_cost_drivers", "clinician_cost_drivers", "cohort_summary", "cohort_cost_drivers")


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
    zip_cbsa, selected = side_inputs.zip_cbsa(settings), side_inputs.selected_cbsas(settings)
    location = elig.npi_location(tin_npis.select("npi"), elig.zip_by_plurality(zip_counts, py, p),
                                 side_inputs.providers(settings), zip_cbsa, selected, p)
    table = elig.eligibility(tin_npis, elig.specialty_by_plurality(spec_counts, py, p), location, counts,
                             m.benchmarks.case_minimum, p)
    table = table.with_columns(pl.lit(py).alias("performance_year"))
    info = {"reference_year": ref, "specialty_fallback_npis": int(table["specialty_year_fallback"].fill_null(False).sum()),
            "location_unknown": bool(zip_cbsa is None or selected is None),
            "location_status": dict(table.group_by("location_status").len().iter_rows()),
            "cbsa_rule": dict(table.filter(pl.col("cbsa_rule").is_not_null()).group_by("cbsa_rule").len().iter_rows())}
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


def _quality(settings: RunSettings, m: Methodology, frame: pl.DataFrame, practices: pl.DataFrame,
             er: pl.DataFrame, attributed: pl.DataFrame, has_part_a: bool) -> dict:
    """Q1-Q7 (Q6 from Part A when supplied): screened rows (Q2), rates, benchmarks over the peer pool
    (Q5/B1), points, best points per measure. `practices`: S5's clinician count per TIN (Q2)."""
    py = settings.performance_year
    qp = quality_params(m, part_a_supplied=has_part_a)
    subs = side_inputs.quality_submissions(settings, py)
    part_a_measures = list(m.quality.part_a_measures)
    replaced = 0
    if has_part_a:  # Q6: the Part A measure is computed from claims; submitted rows for it are replaced
        subs, replaced = quality.drop_measures(subs, part_a_measures)
    types = side_inputs.cms_collection_types(resolve_dir(m.quality.cms_measures_file))
    accepted, issues = quality.screen_submissions(subs, types, practices, qp,
                                                  m.scoring.small_practice_max_clinicians)
    rates = quality.measure_rates(accepted, qp)
    if has_part_a:
        adm_episodes, adm_rates = _admissions(settings, m, er, attributed)
        q6_rows = quality.classify_rates(admissions.measure_rows(adm_rates, m.admissions), qp)
        rates = pl.concat([rates, q6_rows], how="diagonal_relaxed")
    else:
        adm_episodes, adm_rates = admissions.empty_tables()
    rates = quality.with_peer_pool(rates, frame)
    bench = quality.quality_benchmarks(rates, qp)
    points = quality.measure_points(rates, bench, qp)
    best = quality.best_points_per_measure(frame, points, qp)
    breakdown = quality.measure_breakdown(frame, best, qp, tuple(part_a_measures), has_part_a)
    return {"qp": qp, "benchmarks": bench, "points": points, "breakdown": breakdown, "submissions": subs.height,
            "issues": issues, "replaced": replaced, "part_a_measures": part_a_measures,
            "admission_episodes": adm_episodes, "admission_rates": adm_rates,
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


def _scored_attributions(settings: RunSettings, py: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(episode_risk rows of the PY that count for scoring, their costs and S4 covariates, one row per
    (attributed participant, scored episode) with the beneficiary for S4; beneficiary ids stay here)."""
    er = read_table(settings, "episode_risk").filter(pl.col("fit") & (pl.col("performance_year") == py))
    scored_eps = er.select("episode_id", "performance_year", "cohort",
                           pl.col("observed_cost_winsorized").alias("observed_cost"), "expected_cost",
                           "risk_score", "dual")
    benes = read_table(settings, "episodes", ["episode_id", "bene_id", "start_date"])
    attributed = (read_table(settings, "episode_attribution", ["episode_id", "tin", "npi", "attributed"])
                  .filter(pl.col("attributed")).join(scored_eps, on="episode_id")
                  .join(benes, on="episode_id", how="left"))
    return er, scored_eps, attributed


def _practices(settings: RunSettings, sp, billing: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """S2/S3 per TIN (attestations) and S5's clinician count per TIN (also Q2's practice size)."""
    practice = final.practice_adjustments(side_inputs.attestations(settings, settings.performance_year, sp), sp)
    counts = final.clinician_counts(practice, billing.group_by("tin").agg(
        pl.col("npi").n_unique().alias("billing_clinicians")))
    return practice, counts


def _final_frame(frame: pl.DataFrame, q: dict, practice: pl.DataFrame, counts: pl.DataFrame,
                 attributed: pl.DataFrame, billing: pl.DataFrame, sp) -> pl.DataFrame:
    """S1-S7 onto the participant rows (after B and Q), with each participant's Part B paid (P3)."""
    frame = frame.join(q["participant"], on=["cohort", "tin", "npi"], how="left")
    frame = final.with_practice_adjustments(frame, practice, counts, sp)  # S2, S3, S5
    frame = final.with_complex_bonus(frame, final.complex_indicators(attributed), sp)  # S4
    frame = final.final_scores(frame.with_columns(  # S1, S6, S7
        pl.col("quality_score").fill_null(0.0), pl.col("has_non_claims_submission").fill_null(False)), sp)
    return frame.join(billing.select("tin", "npi", "partb_paid"), on=["tin", "npi"], how="left")


SCORE_COLUMNS = (
    "performance_year", "cohort", "tin", "npi", "quality_score", "quality_points", "measures_scored",
    "cost_points", "cost_score", "ia_adjustment", "pi_adjustment", "pi_score", "complex_bonus",
    "mean_risk_score", "dual_share", "attributed_patients", "small_practice_bonus", "clinician_count",
    "clinician_count_source", "final_score", "status", "status_reason", "episodes", "measure_score",
    "minimum_submission_met", "minimum_submission_issue", "partb_paid")
PAYMENT_COLUMNS = (
    "performance_year", "cohort", "tin", "npi", "final_score", "transformed_score", "risk_level", "payback_share",
    "scaling_factor",
    "unclipped_factor", "adjustment_factor", "partb_paid", "pool_paid", "dollar_impact", "in_payment_pool", "payment_status",
    "payment_reason")


def compute_scores(settings: RunSettings, m: Methodology) -> tuple[dict[str, pl.DataFrame], dict]:
    """R4-R5, B1-B4, Q1-Q7, S1-S7, P1-P4 for the run's PY, and the summary tables."""
    py = settings.performance_year
    has_part_a = part_a_supplied(settings)
    er, scored_eps, attributed = _scored_attributions(settings, py)
    eligibility_table = read_table(settings, "eligibility")
    cms = cost.cost_measure_scores(attributed, cost.cohort_mean_cost(scored_eps), m.benchmarks)  # R4-R5
    frame, bench = _cost_points(_participants(cms, eligibility_table, py), m.benchmarks)  # B1-B4
    billing = participant_paid(settings, py)
    practice, counts = _practices(settings, m.scoring, billing)
    q = _quality(settings, m, frame, counts, er, attributed, has_part_a)  # Q1-Q7
    frame = _final_frame(frame, q, practice, counts, attributed, billing, m.scoring)  # S1-S7
    scores = frame.select(SCORE_COLUMNS).sort(PARTICIPANT)
    pay = payment.payment_adjustments(  # P1-P4
        frame.filter(pl.col("final_score").is_not_null()).select(*PARTICIPANT, "final_score", "partb_paid"), m.payment)
    budget = payment.budget_check(pay, m.payment)
    pay = pay.select(PAYMENT_COLUMNS).sort(PARTICIPANT)
    tables = _tables(settings, m, cms, bench, q, scores, pay, eligibility_table, er, has_part_a)
    tables = keep_other_tins(tables, settings)  # --tin: other TINs' published rows stay in place
    info = {"budget": budget, "part_a": has_part_a, "replaced_part_a_submissions": q["replaced"],
            "part_a_measures": q["part_a_measures"], "small_pool": m.benchmarks.small_pool_participants,
            "submissions": q["submissions"], "status_counts": dict(scores.group_by("status").len().iter_rows()),
            "submission_issues": dict(q["issues"].group_by("reason").len().iter_rows()),
            "payment_status": dict(pay.group_by("payment_status").len().iter_rows()),
            "side_inputs": side_inputs_status(settings)}
    return tables, info


def _tables(settings: RunSettings, m: Methodology, cms, bench, q, scores, pay, eligibility_table, er,
            has_part_a: bool) -> dict[str, pl.DataFrame]:
    py = settings.performance_year
    facts = summaries.RunFacts(
        performance_year=py, part_a=has_part_a, benchmarks=m.benchmarks,
        not_scored_measures=q["qp"].not_scored_measures, part_a_measures=tuple(q["part_a_measures"]),
        cost_basis=summaries.cost_basis(settings), required_measures=q["qp"].required_measures)
    drivers = summaries.cost_drivers(settings, er.select("episode_id"))
    return {
        "cost_measure_scores": restrict_tins(cms.filter(pl.col("performance_year") == py), settings),
        "cost_benchmarks": bench,
        "quality_benchmarks": q["benchmarks"],
        "quality_measure_points": restrict_tins(q["points"].select(
            "performance_year", "cohort", "tin", "npi", "measure_id", "collection_type", "performance_rate",
            "data_completeness", "cases", "decile", "points", "zero_reason", "in_peer_pool"), settings),
        "quality_submission_issues": restrict_tins(q["issues"], settings),
        "participant_measure_points": restrict_tins(q["breakdown"], settings),
        "participant_scores": restrict_tins(scores, settings),
        "payment_adjustments": restrict_tins(pay, settings),
        "episode_admissions": q["admission_episodes"],
        "admission_rates": restrict_tins(q["admission_rates"], settings),
        "score_distribution": summaries.score_distribution(scores, pay),
        "tin_summary": restrict_tins(summaries.tin_summary(scores, pay, bench, facts), settings),
        "tin_cost_drivers": restrict_tins(drivers.by_tin, settings),
        "clinician_cost_drivers": restrict_tins(drivers.by_clinician, settings),
        "cohort_summary": summaries.cohort_summary(bench, drivers.by_cohort, eligibility_table, facts).join(
            summaries.break_even(pay, m.payment), on=["performance_year", "cohort"], how="left"),
        "cohort_cost_drivers": drivers.by_cohort,
    }


# ------------------------------------------------------------------------------------------ the stages
# Each stage writes its own tables (pipelines.engine.registry names them) and returns what it wrote, for
# the asset's metadata: (tables, info).

def run_eligibility(settings: RunSettings, m: Methodology) -> tuple[dict[str, pl.DataFrame], dict]:
    table, info = compute_eligibility(settings, m)
    settings.warehouse.write("eligibility", table)  # whole run: benchmarks need it (B1)
    return {"eligibility": table}, info


def run_episode_risk(settings: RunSettings, m: Methodology) -> tuple[dict[str, pl.DataFrame], dict]:
    table, models = compute_episode_risk(settings, m, read_table(settings, "eligibility"))
    tables = {"episode_risk": table, "risk_models": models}
    for name, frame in tables.items():
        settings.warehouse.write(name, frame)
    return tables, {}


def run_scoring(settings: RunSettings, m: Methodology) -> tuple[dict[str, pl.DataFrame], dict]:
    tables, info = compute_scores(settings, m)
    for name in SCORING_TABLES:
        settings.warehouse.write(name, tables[name])
    return tables, info
