"""S1-S7 on hand-worked numbers."""
from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from pipelines.engine.methodology import load_methodology
from pipelines.engine.scoring import final

P = load_methodology(2027).scoring


def test_S2_improvement_activities():
    df = pl.DataFrame({"ia1_done": ["Y", "Y", "N", "n"], "ia2_done": ["Y", "N", "Y", "N"]})
    assert df.select(final.ia_adjustment_expr(P).alias("x"))["x"].to_list() == [0.0, -10.0, -10.0, -20.0]


def test_S3_promoting_interoperability():
    # -(100 - 73) / 10 = -2.7; 100 -> 0; 0 -> -10; not reported -> -10
    df = pl.DataFrame({"pi_score": [73.0, 100.0, 0.0, None]})
    assert df.select(final.pi_adjustment_expr(P).alias("x"))["x"].to_list() == pytest.approx([-2.7, 0.0, -10.0, -10.0])


def test_S4_complex_patient_bonus():
    # pool of 5: risk 1..5 (median 3), dual share 0.5, 0.1, 0.1, 0.1, 0.1 (median 0.1).
    # risk 5: percentile 5/5 = 1.0 -> min(10, 20 x 0.5) = 10;  risk 4: 4/5 = 0.8 -> 20 x 0.3 = 6
    # risk 1 but dual 0.5 > 0.1: dual percentile 5/5 -> 10;  risk 3 (= median) and dual 0.1: 0;  risk 2: 0
    pool = pl.DataFrame({"performance_year": [2027] * 5, "cohort": ["HF"] * 5, "npi": list("ABCDE"),
                         "mean_risk_score": [1.0, 2.0, 3.0, 4.0, 5.0], "dual_share": [0.5, 0.1, 0.1, 0.1, 0.1]})
    out = final.complex_patient_bonus(pool, P)
    assert out["complex_bonus"].to_list() == pytest.approx([10.0, 0.0, 0.0, 6.0, 10.0])


def test_S4_missing_indicators_do_not_qualify():
    pool = pl.DataFrame({"performance_year": [2027] * 3, "cohort": ["HF"] * 3,
                         "mean_risk_score": [None, 1.0, 2.0], "dual_share": [None, None, None]},
                        schema_overrides={"dual_share": pl.Float64, "mean_risk_score": pl.Float64})
    # risk 2.0 of (1.0, 2.0): median 1.5, percentile 2/2 = 1 -> 10
    assert final.complex_patient_bonus(pool, P)["complex_bonus"].to_list() == [0.0, 0.0, 10.0]


def test_S5_small_practice_bonus():
    df = pl.DataFrame({"clinician_count": [1, 2, 15, 16, None]})
    assert df.select(final.small_practice_bonus_expr(P).alias("x"))["x"].to_list() == [15.0, 10.0, 10.0, 0.0, 0.0]


def _frame(**over):
    row = dict(eligible=True, eligibility_reason=None, meets_case_minimum=True, has_non_claims_submission=True,
               ia_attested=True, ia_issue=None, quality_score=0.6, cost_score=0.8, ia_adjustment=-10.0, pi_adjustment=-2.7,
               complex_bonus=6.0, small_practice_bonus=10.0)
    row.update(over)
    return final.final_scores(pl.DataFrame([row], schema_overrides={"eligibility_reason": pl.Utf8, "ia_issue": pl.Utf8}),
                              P).row(0, named=True)


def test_S1_final_score():
    # 100 x (0.5 x 0.6 + 0.5 x 0.8) = 70; 70 - 10 - 2.7 + 6 + 10 = 73.3
    r = _frame()
    assert r["status"] == "scored" and r["final_score"] == pytest.approx(73.3)


def test_S1_clamped_to_0_100():
    # 100 + 0 + 0 + 10 + 15 = 125 -> 100;   100 x 0.05 - 20 - 10 = -25 -> 0
    assert _frame(quality_score=1.0, cost_score=1.0, ia_adjustment=0.0, pi_adjustment=0.0, complex_bonus=10.0,
                  small_practice_bonus=15.0)["final_score"] == 100.0
    low = _frame(quality_score=0.0, cost_score=0.1, ia_adjustment=-20.0, pi_adjustment=-10.0, complex_bonus=0.0,
                 small_practice_bonus=0.0)
    assert low["final_score"] == 0.0 and low["status"] == "scored"


def test_S6_minimum_submission_zero_score_path():
    r = _frame(has_non_claims_submission=False)
    assert r["status"] == "failed_minimum_submission" and r["final_score"] == 0.0
    assert r["status_reason"] == "S6: no non-claims measure meeting Q3"
    r = _frame(ia_attested=False, ia_issue="blank IA answer in practice_attestations.csv row 2 (not an attestation)",
               has_non_claims_submission=False)
    assert r["final_score"] == 0.0
    assert r["status_reason"] == ("S6: blank IA answer in practice_attestations.csv row 2 (not an attestation); "
                                  "no non-claims measure meeting Q3")


def _attestations(rows):
    """rows: (tin, row, ia1, ia2, pi, clinicians) as side_inputs.attestations returns them."""
    return pl.DataFrame(rows, schema={"tin": pl.Utf8, "attestation_row": pl.Int64, "ia1_done": pl.Utf8,
                                      "ia2_done": pl.Utf8, "pi_score": pl.Float64, "reported_clinicians": pl.Int64},
                        orient="row")


def test_S2_S6_blank_answers_are_not_an_attestation():
    # T1: Y/N -> attested, -10, PI 73 -> -2.7.  T2: N/N -> attested (an attestation), -20, PI blank -> -10.
    # T3: Y/blank -> NOT an attestation: -20 and S6 fails with the row named.  T4: no row at all.
    practice = final.practice_adjustments(_attestations([
        ("T1", 1, "Y", "N", 73.0, 4), ("T2", 2, "N", "N", None, None), ("T3", 3, "Y", None, 100.0, 1)]), P)
    frame = pl.DataFrame({"tin": ["T1", "T2", "T3", "T4"]})
    counts = final.clinician_counts(practice, pl.DataFrame({"tin": ["T1", "T2", "T3", "T4"],
                                                           "billing_clinicians": [9, 3, 2, 20]},
                                                          schema_overrides={"billing_clinicians": pl.UInt32}))
    out = {r["tin"]: r for r in final.with_practice_adjustments(frame, practice, counts, P).iter_rows(named=True)}
    assert [out[t]["ia_attested"] for t in ("T1", "T2", "T3", "T4")] == [True, True, False, False]
    assert [out[t]["ia_adjustment"] for t in ("T1", "T2", "T3", "T4")] == [-10.0, -20.0, -20.0, -20.0]
    assert [out[t]["pi_adjustment"] for t in ("T1", "T2", "T3", "T4")] == pytest.approx([-2.7, -10.0, 0.0, -10.0])
    assert out["T3"]["ia_issue"] == "blank IA answer in practice_attestations.csv row 3 (not an attestation)"
    assert out["T4"]["ia_issue"] == "no IA attestation row for the TIN and PY" and out["T1"]["ia_issue"] is None
    # S5 count: the attestation's count (4, -, 1) else billing NPIs (3, 20): bonus 10, 10, 15, 0
    assert [out[t]["clinician_count"] for t in ("T1", "T2", "T3", "T4")] == [4, 3, 1, 20]
    assert [out[t]["clinician_count_source"] for t in ("T1", "T2")] == ["practice_attestations", "partb_lines"]
    assert [out[t]["small_practice_bonus"] for t in ("T1", "T2", "T3", "T4")] == [10.0, 10.0, 15.0, 0.0]


def test_S4_indicators_are_per_distinct_beneficiary_not_per_episode():
    # Participant N1: beneficiary a has 3 attributed episodes (risk 1.0, 1.0, then latest 3.0; dual),
    # beneficiary b one (risk 1.0; not dual). Per episode the mean risk would be 6 / 4 = 1.5 and the dual
    # share 3 / 4; per beneficiary (latest episode each, DEFAULT): risk (3.0 + 1.0) / 2 = 2.0, dual 1 / 2.
    eps = pl.DataFrame({
        "performance_year": 2027, "cohort": "HF", "tin": "T", "npi": "N1",
        "bene_id": ["a", "a", "a", "b"], "episode_id": ["e1", "e2", "e3", "e4"],
        "start_date": [date(2026, 1, 5), date(2026, 3, 1), date(2026, 9, 1), date(2026, 2, 1)],
        "risk_score": [1.0, 1.0, 3.0, 1.0], "dual": [True, True, True, False]})
    out = final.complex_indicators(eps).row(0, named=True)
    assert out["attributed_patients"] == 2 and out["mean_risk_score"] == pytest.approx(2.0)
    assert out["dual_share"] == pytest.approx(0.5) and "bene_id" not in final.complex_indicators(eps).columns


def test_S7_below_case_minimum_gets_no_score():
    r = _frame(meets_case_minimum=False)
    assert r["status"] == "below_case_minimum" and r["final_score"] is None


def test_G_not_eligible_gets_no_score():
    r = _frame(eligible=False, eligibility_reason="G3: CBSA 12345 is not selected")
    assert r["status"] == "not_eligible" and r["final_score"] is None and r["status_reason"].startswith("G3")
