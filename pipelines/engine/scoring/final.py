"""Final score (S1-S7): IA (S2), PI (S3), complex-patient bonus (S4), small-practice bonus (S5),
minimum submission (S6), no score below the case minimum (S7), weighting and clamp (S1)."""
from __future__ import annotations

import polars as pl

from pipelines.engine.methodology import ScoringParams
from pipelines.engine.tables import PARTICIPANT

KEYS = ["performance_year", "cohort"]


def _done(col: str, p: ScoringParams) -> pl.Expr:
    """S2: an answer that says the activity was done (scoring.ia_done_answers)."""
    return pl.col(col).cast(pl.Utf8).str.strip_chars().str.to_uppercase().is_in(list(p.ia_done_answers))


def ia_adjustment_expr(p: ScoringParams) -> pl.Expr:
    """S2: both improvement activities done 0, one -10, neither -20 (answering N to both is an attestation)."""
    done = _done("ia1_done", p).cast(pl.Int32) + _done("ia2_done", p).cast(pl.Int32)
    return (pl.when(done == 2).then(p.ia_adjustment_both).when(done == 1).then(p.ia_adjustment_one)
            .otherwise(p.ia_adjustment_none)).cast(pl.Float64)


def pi_adjustment_expr(p: ScoringParams, score: str = "pi_score") -> pl.Expr:
    """S3: -(100 - score) / 10 (73 -> -2.7, 100 -> 0); not reported -> -10."""
    s = pl.col(score).cast(pl.Float64)
    return pl.when(s.is_null()).then(p.pi_not_reported).otherwise(-(100.0 - s) / p.pi_divisor)


def small_practice_bonus_expr(p: ScoringParams, count: str = "clinician_count") -> pl.Expr:
    """S5: +15 for 1 clinician in the TIN, +10 for 2-15, else 0."""
    n = pl.col(count)
    return (pl.when(n == 1).then(p.solo_bonus)
            .when((n >= 2) & (n <= p.small_practice_max_clinicians)).then(p.small_practice_bonus)
            .otherwise(0.0)).cast(pl.Float64)


def complex_patient_bonus(pool: pl.DataFrame, p: ScoringParams,
                          indicators: tuple[str, ...] = ("mean_risk_score", "dual_share")) -> pl.DataFrame:
    """S4 over the cohort's peer pool: a participant above the cohort median on at least one indicator
    qualifies; bonus = min(10, 20 x (p - 0.5)), p = its highest percentile rank among the indicators on
    which it is above the median. Percentile rank [DEFAULT] = share of the pool's (non-null) values
    at or below its own. Adds <indicator>_median, <indicator>_pctl and complex_bonus.
    """
    out = pool
    for ind in indicators:
        out = out.with_columns(
            pl.col(ind).median().over(KEYS).alias(f"{ind}_median"),
            (pl.col(ind).rank(method="max").over(KEYS) / pl.col(ind).count().over(KEYS)).alias(f"{ind}_pctl"),
        )
    qualifying = [
        pl.when(pl.col(ind) > pl.col(f"{ind}_median")).then(pl.col(f"{ind}_pctl")).otherwise(None)
        for ind in indicators
    ]
    best = pl.max_horizontal(qualifying)
    return out.with_columns(
        pl.when(best.is_null()).then(0.0)
        .otherwise(pl.min_horizontal(pl.lit(p.complex_bonus_cap), p.complex_bonus_slope * (best - 0.5)))
        .cast(pl.Float64).alias("complex_bonus")
    )


def complex_bonus_against_pool(rows: pl.DataFrame, pool: pl.DataFrame, p: ScoringParams,
                               indicators: tuple[str, ...] = ("mean_risk_score", "dual_share")) -> pl.DataFrame:
    """S4 for participants outside the cohort's peer pool (V5: on track, not yet at the case minimum): the same
    qualification and bonus as `complex_patient_bonus`, with the median and the percentile rank (share of the
    pool's non-null values at or below its own) taken over the pool. `rows`, `pool`: KEYS + PARTICIPANT +
    indicators. Returns PARTICIPANT + complex_bonus."""
    keys = PARTICIPANT
    out = rows.select(*keys, *indicators)
    for ind in indicators:
        ref = pool.filter(pl.col(ind).is_not_null()).select(*KEYS, pl.col(ind).alias("_v"))
        stats = ref.group_by(KEYS).agg(pl.col("_v").median().alias(f"{ind}_median"), pl.len().alias("_n"))
        ranks = (out.select(*keys, ind).filter(pl.col(ind).is_not_null()).join(ref, on=KEYS)
                 .group_by(keys).agg((pl.col("_v") <= pl.col(ind)).sum().alias("_at_or_below")))
        out = (out.join(stats, on=KEYS, how="left").join(ranks, on=keys, how="left")
               .with_columns((pl.col("_at_or_below").fill_null(0) / pl.col("_n")).alias(f"{ind}_pctl"))
               .drop("_n", "_at_or_below"))
    qualifying = [pl.when(pl.col(ind) > pl.col(f"{ind}_median")).then(pl.col(f"{ind}_pctl")).otherwise(None)
                  for ind in indicators]
    best = pl.max_horizontal(qualifying)
    return out.select(*keys, pl.when(best.is_null()).then(0.0).otherwise(
        pl.min_horizontal(pl.lit(p.complex_bonus_cap), p.complex_bonus_slope * (best - 0.5)))
        .cast(pl.Float64).alias("complex_bonus"))


def final_score_expr(p: ScoringParams) -> pl.Expr:
    """S1: 100 x (0.5 quality + 0.5 cost) + IA + PI + complex bonus + small-practice bonus, clamped to [0, 100]."""
    raw = (
        100.0 * (p.quality_weight * pl.col("quality_score") + p.cost_weight * pl.col("cost_score"))
        + pl.col("ia_adjustment") + pl.col("pi_adjustment") + pl.col("complex_bonus")
        + pl.col("small_practice_bonus")
    )
    return raw.clip(p.final_score_min, p.final_score_max)


def score_by_status_expr(p: ScoringParams) -> pl.Expr:
    """The final score a status gets: S1 when scored, S6's 0 for a failed minimum submission, none below
    the case minimum (S7) or when not eligible (G). Reads `status` and S1's columns."""
    status = pl.col("status")
    return (pl.when(status == "scored").then(final_score_expr(p))
            .when(status == "failed_minimum_submission").then(0.0)
            .otherwise(None).cast(pl.Float64))


def final_scores(frame: pl.DataFrame, p: ScoringParams) -> pl.DataFrame:
    """S1, S6, S7 and the status of each participant row.

    `frame` columns: eligible (G1-G3 passed), eligibility_reason, meets_case_minimum (R5),
    has_non_claims_submission (S6), ia_attested and ia_issue (S6), quality_score, cost_score, ia_adjustment,
    pi_adjustment, complex_bonus, small_practice_bonus.
    status: not_eligible (G), below_case_minimum (S7: no score), failed_minimum_submission (S6: 0),
    scored.
    """
    minimum_met = pl.col("has_non_claims_submission") & pl.col("ia_attested")
    status = (
        pl.when(~pl.col("eligible")).then(pl.lit("not_eligible"))
        .when(~pl.col("meets_case_minimum")).then(pl.lit("below_case_minimum"))
        .when(~pl.col("minimum_submission_met")).then(pl.lit("failed_minimum_submission"))
        .otherwise(pl.lit("scored"))
    )
    # S6 is evaluated for every participant (V5 projects a participant that is not yet at the case minimum)
    out = frame.with_columns(minimum_met.alias("minimum_submission_met"), pl.when(~minimum_met).then(pl.concat_str([
        pl.lit("S6: "),
        pl.concat_str([pl.when(~pl.col("ia_attested")).then(pl.coalesce("ia_issue", pl.lit("no IA attestation"))),
                       pl.when(~pl.col("has_non_claims_submission")).then(pl.lit("no non-claims measure meeting Q3"))],
                      separator="; ", ignore_nulls=True)])).alias("minimum_submission_issue")
    ).with_columns(status.alias("status"))
    return out.with_columns(
        score_by_status_expr(p).alias("final_score"),
        pl.when(pl.col("status") == "failed_minimum_submission").then(pl.col("minimum_submission_issue"))
        .when(pl.col("status") == "below_case_minimum").then(pl.lit("S7/R5: fewer attributed episodes than the case minimum"))
        .when(pl.col("status") == "not_eligible").then(pl.col("eligibility_reason"))
        .otherwise(None).alias("status_reason"),
    )


def practice_adjustments(attestations: pl.DataFrame, p: ScoringParams) -> pl.DataFrame:
    """S2, S3 per TIN from the PY's parsed attestation rows (`side_inputs.attestations`: tin,
    attestation_row, ia1_done, ia2_done, pi_score, reported_clinicians). S2: a row attests only when both
    answers are given (answering N to both is an attestation; a blank answer is not: ia_attested false,
    ia_issue says why, S6 fails). Columns: tin, ia_attested, ia_issue, ia_adjustment, pi_adjustment,
    pi_score, reported_clinicians."""
    attested = pl.col("ia1_done").is_not_null() & pl.col("ia2_done").is_not_null()
    return attestations.select(
        "tin", attested.alias("ia_attested"),
        pl.when(attested).then(None).otherwise(pl.concat_str([
            pl.lit("blank IA answer in practice_attestations.csv row "), pl.col("attestation_row").cast(pl.Utf8),
            pl.lit(" (not an attestation)")])).alias("ia_issue"),
        pl.when(attested).then(ia_adjustment_expr(p)).otherwise(p.ia_adjustment_none).alias("ia_adjustment"),
        pi_adjustment_expr(p, "pi_score").alias("pi_adjustment"),
        "pi_score", "reported_clinicians")


def clinician_counts(practice: pl.DataFrame, billing_clinicians: pl.DataFrame) -> pl.DataFrame:
    """S5's clinician count per TIN (also Q2's practice size): the attestation's clinician_count, else
    the distinct NPIs billing Part B lines under the TIN in the PY (`billing_clinicians`: tin,
    billing_clinicians). Columns: tin, clinician_count, clinician_count_source."""
    return (billing_clinicians.join(practice.select("tin", "reported_clinicians"), on="tin", how="full", coalesce=True)
            .select("tin", pl.coalesce("reported_clinicians", "billing_clinicians").cast(pl.Int64).alias("clinician_count"),
                    pl.when(pl.col("reported_clinicians").is_not_null()).then(pl.lit("practice_attestations"))
                    .otherwise(pl.lit("partb_lines")).alias("clinician_count_source")))


def with_practice_adjustments(frame: pl.DataFrame, practice: pl.DataFrame, counts: pl.DataFrame,
                              p: ScoringParams) -> pl.DataFrame:
    """S2, S3, S5 onto participant rows: a TIN without an attestation row gets IA 'none' (S6 fails,
    with the reason) and PI 'not reported'; the small-practice bonus from `clinician_counts`."""
    return (frame.join(practice.drop("reported_clinicians"), on="tin", how="left").join(counts, on="tin", how="left")
            .with_columns(
                pl.col("ia_issue").fill_null(pl.when(pl.col("ia_attested").is_null())
                                             .then(pl.lit("no IA attestation row for the TIN and PY"))),
                pl.col("ia_attested").fill_null(False),
                pl.col("ia_adjustment").fill_null(p.ia_adjustment_none),
                pl.col("pi_adjustment").fill_null(p.pi_not_reported),
            ).with_columns(small_practice_bonus_expr(p).alias("small_practice_bonus")))


def complex_indicators(attributed: pl.DataFrame) -> pl.DataFrame:
    """S4 indicators per participant over its DISTINCT attributed beneficiaries (not per episode).

    `attributed`: one row per (participant, attributed scored episode) with performance_year, cohort,
    tin, npi, bene_id, start_date, episode_id, risk_score, dual. A beneficiary counts once, with the
    risk score and dual status of its latest attributed episode of the participant [DEFAULT] (latest
    start, then highest episode id). mean_risk_score skips beneficiaries without a risk score (X2).
    Beneficiary ids are used here only; the result has none."""
    keys = PARTICIPANT
    latest = ["start_date", "episode_id"]
    per_bene = attributed.group_by([*keys, "bene_id"]).agg(
        pl.col("risk_score").sort_by(latest).last(), pl.col("dual").sort_by(latest).last())
    return per_bene.group_by(keys).agg(
        # sorted before the float mean: the same sum order every run (reruns agree to the bit)
        pl.len().alias("attributed_patients"), pl.col("risk_score").sort().mean().alias("mean_risk_score"),
        pl.col("dual").cast(pl.Float64).mean().alias("dual_share"))


def with_complex_bonus(frame: pl.DataFrame, indicators: pl.DataFrame, p: ScoringParams) -> pl.DataFrame:
    """S4 onto participant rows: indicators (mean risk score, dual share; `indicators` keyed by
    participant) and the bonus computed over the peer pool (eligible and meeting the case minimum)."""
    keys = PARTICIPANT
    frame = frame.join(indicators, on=keys, how="left")
    in_pool = pl.col("eligible") & pl.col("meets_case_minimum")
    bonus = complex_patient_bonus(frame.filter(in_pool), p).select(*keys, "complex_bonus")
    return frame.join(bonus, on=keys, how="left").with_columns(pl.col("complex_bonus").fill_null(0.0))
