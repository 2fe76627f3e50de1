"""Q6: Q492 unplanned cardiovascular admissions from Part A, on hand-worked numbers."""
from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from pipelines.engine.methodology import load_methodology
from pipelines.engine.scoring import admissions as adm
from pipelines.engine.scoring import quality
from pipelines.engine.scoring.params import quality_params

M = load_methodology(2027)
P = M.admissions
RP = M.risk
HF_DX = pl.DataFrame({"code": ["I509", "Z9999"], "valid_from": [date(2015, 10, 1), date(2015, 10, 1)],
                      "valid_to": [date(9999, 12, 31), date(2026, 12, 31)]})


def claims(rows):
    """rows: (claim id, bene, claim type, from date, principal dx, admission type)."""
    return pl.DataFrame([dict(claim_control_number=c, bene_id=b, claim_type=t, from_date=d, principal_dx=x,
                              admission_type=a) for c, b, t, d, x, a in rows])


def test_Q6_default_parameters_come_from_the_methodology_file():
    assert (P.measure_id, P.cohort, P.collection_type) == ("Q492", "HF", "claims")
    assert P.claim_types == ["60"] and P.planned_admission_types == ["3"]
    assert P.cardiovascular_dx_range == ["I00", "I99"] and P.per_person_years == 100.0 and P.days_per_year == 365.25


def test_Q6_which_claims_are_unplanned_cardiovascular_admissions():
    c = claims([
        ("c1", "b", "60", date(2027, 3, 1), "I214", "1"),     # AMI, emergency: counts (I00-I99)
        ("c2", "b", "60", date(2027, 3, 2), "I21.4", "3"),    # elective: planned, does not count
        ("c3", "b", "40", date(2027, 3, 3), "I214", "1"),     # outpatient claim type: no
        ("c4", "b", "60", date(2027, 3, 4), "E119", "1"),     # not cardiovascular: no
        ("c5", "b", "60", date(2027, 3, 5), "I50.9", None),   # blank admission type counts as unplanned
        ("c6", "b", "60", date(2027, 3, 6), "Z9999", "2"),    # on the HF list (valid until 2026-12-31)... not on 2027-03-06
        ("c7", "b", "60", date(2026, 3, 6), "Z9999", "2"),    # ... but valid here: counts through the list
        ("c8", "b", "60", date(2027, 3, 8), "J189", "1"),     # pneumonia: no
    ])
    got = adm.qualifying_admissions(c, HF_DX, P)
    assert sorted(got["claim_control_number"]) == ["c1", "c5", "c7"]
    assert "bene_id" in got.columns  # internal only; the episode table drops it


def test_Q6_episode_admissions_window_and_person_time():
    eps = pl.DataFrame({"episode_id": ["e1", "e2"], "bene_id": ["a", "b"],
                        "start_date": [date(2027, 1, 1), date(2027, 1, 1)],
                        "end_date": [date(2027, 12, 31), date(2027, 7, 1)]})
    admits = pl.DataFrame({"bene_id": ["a", "a", "a", "a", "b"], "claim_control_number": ["1", "2", "3", "4", "5"],
                           "from_date": [date(2027, 1, 1), date(2027, 12, 31), date(2027, 12, 31),  # ends inclusive;
                                         date(2028, 1, 1), date(2027, 7, 2)]})           # same day once; outside
    out = {r["episode_id"]: r for r in adm.episode_admissions(eps, admits, P).iter_rows(named=True)}
    assert out["e1"]["admissions"] == 2 and out["e2"]["admissions"] == 0
    assert out["e1"]["person_years"] == pytest.approx(365 / 365.25)
    assert out["e2"]["person_years"] == pytest.approx(182 / 365.25)
    assert "bene_id" not in adm.episode_admissions(eps, admits, P).columns


def _cov(n):
    return {"age_band": ["65-69"] * n, "female": [False] * n, "dual": [False] * n, "disabled": [False] * n,
            "esrd": [False] * n, "risk_score": [1.0] * n, "hccs": [[] for _ in range(n)]}


def test_Q6_risk_standardized_rate_with_the_cohort_rate_fallback():
    # 4 episodes (< 200: expected = cohort rate x person-years). Admissions 2, 0, 1, 0 over person-years
    # 1, 0.5, 1, 0.5: cohort rate = 3 / 3 = 1 per person-year = 100 per 100 person-years.
    eps = pl.DataFrame({"episode_id": ["e1", "e2", "e3", "e4"], "performance_year": 2027, "cohort": "HF",
                        "admissions": [2, 0, 1, 0], "person_years": [1.0, 0.5, 1.0, 0.5], **_cov(4)})
    eps = adm.expected_admissions(eps, RP, P)
    assert set(eps["admission_model"]) == {"cohort_rate"}
    assert eps["expected_admissions"].to_list() == pytest.approx([1.0, 0.5, 1.0, 0.5])
    att = pl.DataFrame({"performance_year": 2027, "cohort": "HF", "tin": "T", "npi": ["A", "A", "B", "B", "C", "C"],
                        "episode_id": ["e1", "e2", "e3", "e4", "e1", "e3"]})
    r = {x["npi"]: x for x in adm.participant_rates(att, eps, P).iter_rows(named=True)}
    # A: 2 admissions / 1.5 person-years = 133.33 observed, expected 1.5 / 1.5 = 100; RSR = 2 / 1.5 x 100
    assert r["A"]["cohort_rate"] == pytest.approx(100.0)
    assert r["A"]["observed_rate"] == pytest.approx(133.3333, rel=1e-5)
    assert r["A"]["expected_rate"] == pytest.approx(100.0)
    assert r["A"]["risk_standardized_rate"] == pytest.approx(133.3333, rel=1e-5)
    assert r["B"]["risk_standardized_rate"] == pytest.approx(66.6667, rel=1e-5)  # 1 / 1.5 x 100
    assert r["C"]["risk_standardized_rate"] == pytest.approx(150.0)  # 3 / 2 x 100
    assert r["C"]["episodes"] == 2 and r["C"]["person_years"] == pytest.approx(2.0)


def test_Q6_expected_from_R1_covariates_when_enough_episodes():
    # 400 episodes of one person-year: duals (i % 4 == 0) are admitted twice; the others (i % 4 = 1, 2, 3)
    # get i % 2 = 1, 0, 1 admissions: rate 2/3.
    n = 400
    dual = np.arange(n) % 4 == 0
    admits = np.where(dual, 2, np.arange(n) % 2)
    cov = _cov(n)
    cov["dual"] = dual.tolist()
    eps = pl.DataFrame({"episode_id": [f"e{i}" for i in range(n)], "performance_year": 2027, "cohort": "HF",
                        "admissions": admits, "person_years": [1.0] * n, **cov})
    out = adm.expected_admissions(eps, RP, P)
    assert set(out["admission_model"]) == {"wls"}
    assert out["expected_admissions"].sum() == pytest.approx(admits.sum())  # rescaled: sum expected = observed
    assert out.filter(pl.col("dual"))["expected_admissions"].mean() == pytest.approx(2.0)
    assert out.filter(~pl.col("dual"))["expected_admissions"].mean() == pytest.approx(2 / 3)
    # a dual participant with 2 admissions per year is exactly as expected: RSR = cohort rate
    att = pl.DataFrame({"performance_year": 2027, "cohort": "HF", "tin": "T", "npi": "D",
                        "episode_id": [f"e{i}" for i in range(0, 80, 4)]})
    r = adm.participant_rates(att, out, P).row(0, named=True)
    cohort_rate = 100 * admits.sum() / n
    assert r["risk_standardized_rate"] == pytest.approx(cohort_rate)
    assert r["observed_rate"] == pytest.approx(200.0)


def test_Q6_no_admissions_in_the_cohort_gives_everyone_the_cohort_rate_zero():
    eps = pl.DataFrame({"episode_id": ["e1", "e2"], "performance_year": 2027, "cohort": "HF", "admissions": [0, 0],
                        "person_years": [1.0, 1.0], **_cov(2)})
    eps = adm.expected_admissions(eps, RP, P)
    att = pl.DataFrame({"performance_year": 2027, "cohort": "HF", "tin": "T", "npi": ["A", "B"],
                        "episode_id": ["e1", "e2"]})
    assert adm.participant_rates(att, eps, P)["risk_standardized_rate"].to_list() == [0.0, 0.0]


def test_Q6_scored_on_deciles_lower_is_better_with_the_Q4_case_minimum():
    qp = quality_params(M, part_a_supplied=True)
    # 10 participants with 20 episodes each, RSR 10, 20, ..., 100; one more with 19 episodes.
    rates = pl.DataFrame({"performance_year": 2027, "cohort": "HF", "tin": "T",
                          "npi": [f"N{i}" for i in range(11)], "episodes": [20] * 10 + [19],
                          "risk_standardized_rate": [10.0 * (i + 1) for i in range(10)] + [1.0]})
    rows = quality.classify_rates(adm.measure_rows(rates, P), qp)
    assert rows["data_completeness"].to_list() == [1.0] * 11 and rows["lower_is_better"].all()
    # Q5/B1: every participant is eligible; N10 (19 episodes) is below R5, so outside the peer pool too
    pool = rates.select("performance_year", "cohort", "tin", "npi", pl.lit(True).alias("eligible"),
                        (pl.col("episodes") >= 20).alias("meets_case_minimum"))
    rows = quality.with_peer_pool(rows, pool)
    bench = quality.quality_benchmarks(rows, qp)
    b = bench.row(0, named=True)
    assert (b["measure_id"], b["collection_type"], b["participants"]) == ("Q492", "claims", 10)
    # negated rates -100..-10, linear deciles: d1 = -91 -> 91 per 100 person-years, ..., d9 = 19
    assert [b[f"d{k}"] for k in range(1, 10)] == pytest.approx([91 - 9 * (k - 1) for k in range(1, 10)])
    pts = {r["npi"]: r for r in quality.measure_points(rows, bench, qp).iter_rows(named=True)}
    assert pts["N0"]["points"] == 10.0  # lowest rate (10) is the best decile
    assert pts["N9"]["decile"] == 1 and pts["N9"]["points"] == pytest.approx(1.0)  # worst rate 100
    assert pts["N10"]["points"] == 0.0 and pts["N10"]["zero_reason"] == "Q4_below_case_minimum"


def test_Q6_Q492_is_scored_only_with_part_a():
    assert "Q492" in quality_params(M, part_a_supplied=False).not_scored_measures
    assert quality_params(M, part_a_supplied=False).scored_measures("HF") == ("Q008", "Q005", "Q236", "Q377")
    assert quality_params(M, part_a_supplied=True).scored_measures("HF") == ("Q492", "Q008", "Q005", "Q236", "Q377")
