"""Q6: Q492, unplanned cardiovascular admissions of heart-failure patients, from Part A claims.

Pure Polars/numpy. Every number comes from `[defaults.admissions]` of the methodology file.

  admission (episode level, [DEFAULT])  Part A claim of an inpatient type (`claim_types`, '60')
      starting inside the episode window [start_date, end_date], whose principal diagnosis is on the
      HF diagnosis list (valid on the claim's from date) or inside the ICD-10 range
      `cardiovascular_dx_range` (I00-I99), and whose admission type is not planned
      (`planned_admission_types`, '3' elective; a blank type counts as unplanned). Several claims of a
      beneficiary starting on the same day count as one admission.
  person-years   (end_date - start_date + 1) / days_per_year (365.25) of the participant's attributed HF episodes
                 (closed, not excluded, PY of the run).
  expected       per episode, from the R1 covariates (same design matrix as R2): weighted least
                 squares of the episode's admission rate (admissions / person-years, weight =
                 person-years) on the covariates, predictions floored at `prediction_floor_share` x
                 cohort rate and rescaled so sum expected = sum observed over the cohort's episodes;
                 expected admissions = predicted rate x person-years. Fewer than
                 `min_episodes_to_fit` episodes: expected = cohort rate x person-years.
  measure        risk-standardized rate = (observed / expected) x cohort rate, per 100 person-years
                 (lower is better); when expected is 0 (no admissions in the cohort) the cohort rate.
  scoring        as any Q5 measure with collection type `collection_type` ('claims'): data
                 completeness 1.0 (claims), cases = attributed HF episodes (Q4 minimum applies).
"""
from __future__ import annotations

import numpy as np
import polars as pl

from pipelines.engine.methodology import AdmissionParams, RiskParams
from pipelines.engine.scoring.risk import _design
from pipelines.engine.tables import PARTICIPANT



def qualifying_admissions(claims: pl.DataFrame, hf_dx: pl.DataFrame, p: AdmissionParams) -> pl.DataFrame:
    """Part A claims that count as unplanned cardiovascular admissions (bene_id, from_date, claim id).

    `claims`: parta_claims (bene_id, claim_control_number, claim_type, from_date, principal_dx,
    admission_type). `hf_dx`: HF diagnosis list (code, valid_from, valid_to; pipelines.engine.reference)."""
    lo, hi = p.cardiovascular_dx_range  # Q6: ICD-10 range, compared on the leading characters
    # principal_dx is dotless upper case already (N6, applied once at ingest)
    c = claims.filter(pl.col("claim_type").is_in(list(p.claim_types))).with_columns(pl.col("principal_dx").alias("_dx"))
    c = c.filter(~pl.col("admission_type").fill_null("").str.strip_chars().is_in(list(p.planned_admission_types)))
    in_range = (pl.col("_dx").str.slice(0, len(lo)) >= lo) & (pl.col("_dx").str.slice(0, len(hi)) <= hi)
    listed = (c.join(hf_dx.select(pl.col("code").alias("_dx"), "valid_from", "valid_to"), on="_dx", how="inner")
              .filter(pl.col("from_date").is_between(pl.col("valid_from"), pl.col("valid_to")))
              .select("claim_control_number").unique())
    return c.filter(in_range.fill_null(False) | pl.col("claim_control_number").is_in(listed["claim_control_number"].implode())
                    ).select("bene_id", "claim_control_number", "from_date")


def episode_admissions(episodes: pl.DataFrame, admissions: pl.DataFrame, p: AdmissionParams) -> pl.DataFrame:
    """Per episode (episode_id, bene_id, start_date, end_date): person_years and admissions (distinct
    admission dates inside the window). The result carries no beneficiary id."""
    hits = (episodes.select("episode_id", "bene_id", "start_date", "end_date")
            .join(admissions, on="bene_id", how="inner")
            .filter(pl.col("from_date").is_between(pl.col("start_date"), pl.col("end_date")))
            .group_by("episode_id").agg(pl.col("from_date").n_unique().alias("admissions")))
    return (episodes.drop("bene_id").join(hits, on="episode_id", how="left").with_columns(
        pl.col("admissions").fill_null(0).cast(pl.Int64),
        (((pl.col("end_date") - pl.col("start_date")).dt.total_days() + 1) / p.days_per_year).alias("person_years"),
    ))


def expected_admissions(frame: pl.DataFrame, risk_p: RiskParams, p: AdmissionParams) -> pl.DataFrame:
    """Expected admissions per episode (see module doc). `frame`: one row per scored episode of one
    cohort and PY with admissions, person_years and the R1 covariates (age_band, female, dual, disabled,
    esrd, risk_score, hccs list). Adds expected_admissions and admission_model."""
    n = frame.height
    adm = frame["admissions"].to_numpy().astype(float)
    py = frame["person_years"].to_numpy().astype(float)
    total_py = py.sum()
    cohort_rate = adm.sum() / total_py if total_py > 0 else 0.0
    if n < p.min_episodes_to_fit or cohort_rate == 0:
        exp, model = cohort_rate * py, "cohort_rate"
    else:
        x, _ = _design(frame, np.ones(n, bool), risk_p)
        w = np.sqrt(py)
        beta, *_ = np.linalg.lstsq(x * w[:, None], (adm / np.where(py > 0, py, 1.0)) * w, rcond=None)
        rate = np.maximum(x @ beta, p.prediction_floor_share * cohort_rate)
        exp = rate * py
        exp = exp * (adm.sum() / exp.sum())
        model = "wls"
    return frame.with_columns(pl.Series("expected_admissions", exp, pl.Float64), pl.lit(model).alias("admission_model"))


def participant_rates(attributed: pl.DataFrame, episodes: pl.DataFrame, p: AdmissionParams) -> pl.DataFrame:
    """Per participant: episodes, person_years, admissions, expected_admissions, observed and expected
    rates per 100 person-years, the cohort rate and the risk-standardized rate (the Q492 measure).

    `attributed`: (performance_year, cohort, tin, npi, episode_id) of attributed scored episodes;
    `episodes`: episode_admissions + expected_admissions of the same cohort and PY."""
    cohort = cohort_rates(episodes, p)
    k = p.per_person_years
    out = (attributed.join(episodes.select("episode_id", "admissions", "person_years", "expected_admissions"),
                           on="episode_id", how="inner")
           .group_by(PARTICIPANT).agg(
               pl.len().alias("episodes"), pl.col("person_years").sort().sum(), pl.col("admissions").sum(),
               pl.col("expected_admissions").sort().sum())
           .join(cohort, on=["performance_year", "cohort"], how="left"))
    return out.with_columns(
        (k * pl.col("admissions") / pl.col("person_years")).alias("observed_rate"),
        (k * pl.col("expected_admissions") / pl.col("person_years")).alias("expected_rate"),
    ).with_columns(
        risk_standardized_rate_expr(pl.col("admissions"), pl.col("expected_admissions"), pl.col("cohort_rate"))
        .alias("risk_standardized_rate"),
    ).sort(PARTICIPANT)


def cohort_rates(episodes: pl.DataFrame, p: AdmissionParams) -> pl.DataFrame:
    """Q6: the cohort rate per PY and cohort, admissions per `per_person_years` person-years over the
    cohort's scored episodes (`episodes`: episode_admissions rows)."""
    k = p.per_person_years
    return episodes.group_by("performance_year", "cohort").agg(
        (k * pl.col("admissions").sum() / pl.col("person_years").sort().sum()).alias("cohort_rate"))


def risk_standardized_rate_expr(admissions: pl.Expr, expected: pl.Expr, cohort_rate: pl.Expr) -> pl.Expr:
    """Q6: the measure, (observed / expected admissions) x cohort rate; the cohort rate when nothing is
    expected. Scoring and the V3 bootstrap (sums over resampled episodes) both use this."""
    return pl.when(expected > 0).then(admissions / expected * cohort_rate).otherwise(cohort_rate)


def measure_rows(rates: pl.DataFrame, p: AdmissionParams) -> pl.DataFrame:
    """Participant rates as Q2-style rows for Q3-Q5 (rate = risk-standardized rate, completeness 1)."""
    return rates.select(
        "performance_year", "tin", "npi", pl.lit(p.measure_id).alias("measure_id"),
        pl.lit(p.collection_type).alias("collection_type"),
        pl.col("episodes").cast(pl.Float64).alias("cases"),
        pl.col("risk_standardized_rate").alias("performance_rate"),
        pl.lit(1.0).alias("data_completeness"),
    )


def compute(episodes: pl.DataFrame, covariates: pl.DataFrame, attributed: pl.DataFrame, claims: pl.DataFrame,
            hf_dx: pl.DataFrame, risk_p: RiskParams, p: AdmissionParams) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Q6 end to end for one PY: (episode table without bene ids, participant rates).

    `episodes`: the cohort's scored episodes (episode_id, bene_id, start_date, end_date,
    performance_year, cohort); `covariates`: episode_risk rows (episode_id, age_band, female, dual,
    disabled, esrd, risk_score, hcc_list); `attributed`: (performance_year, cohort, tin, npi, episode_id)."""
    eps = episode_admissions(episodes, qualifying_admissions(claims, hf_dx, p), p)
    cov = covariates.select("episode_id", "age_band", "female", "dual", "disabled", "esrd", "risk_score",
                            pl.col("hcc_list").fill_null("").str.split(" ").list.eval(
                                pl.element().filter(pl.element() != "")).alias("hccs"))
    eps = eps.join(cov, on="episode_id", how="left").with_columns(pl.col("age_band").fill_null("unknown")).sort(
        "episode_id")
    parts = [expected_admissions(g, risk_p, p) for _, g in eps.group_by("performance_year", "cohort", maintain_order=True)]
    eps = (pl.concat(parts) if parts else eps.with_columns(pl.lit(None, pl.Float64).alias("expected_admissions"),
                                                          pl.lit(None, pl.Utf8).alias("admission_model")))
    rates = participant_rates(attributed.filter(pl.col("cohort") == p.cohort), eps, p)
    table = eps.select("episode_id", "performance_year", "cohort", "start_date", "end_date", "person_years",
                       "admissions", "expected_admissions", "admission_model").sort("episode_id")
    return table, rates


def empty_tables() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Q6 without Part A: the two tables, empty, with their columns."""
    ep = pl.DataFrame(schema={"episode_id": pl.Utf8, "performance_year": pl.Int64, "cohort": pl.Utf8,
                              "start_date": pl.Date, "end_date": pl.Date, "person_years": pl.Float64,
                              "admissions": pl.Int64, "expected_admissions": pl.Float64, "admission_model": pl.Utf8})
    rates = pl.DataFrame(schema={"performance_year": pl.Int64, "cohort": pl.Utf8, "tin": pl.Utf8, "npi": pl.Utf8,
                                 "episodes": pl.UInt32, "person_years": pl.Float64, "admissions": pl.Int64,
                                 "expected_admissions": pl.Float64, "cohort_rate": pl.Float64,
                                 "observed_rate": pl.Float64, "expected_rate": pl.Float64,
                                 "risk_standardized_rate": pl.Float64})
    return ep, rates
