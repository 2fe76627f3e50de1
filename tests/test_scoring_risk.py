"""R1-R3: covariates, HCCs through hccinfhir, the expected-cost model and the LBP specialty O/E."""
from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from pipelines.engine.methodology import load_methodology
from pipelines.engine.scoring import risk

P = load_methodology(2027).risk


def test_R1_age_bands_and_demographic_flags():
    # the age comes from episodes.age_at_trigger (one home with X1, tests/test_scoring_age.py): born
    # 1962-03-02 is 64 on 2027-03-01 (birthday not reached) -> <65; born 1962-03-01 is 65 -> 65-69
    eps = pl.DataFrame({"episode_id": ["e1", "e2", "e3", "e4"], "bene_id": ["a", "b", "c", "zz"],
                        "start_date": [date(2027, 3, 1)] * 4, "age_at_trigger": [64, 65, 87, None]})
    benes = pl.DataFrame({"bene_id": ["a", "b", "c"],
                          "sex": ["1", "2", "2"], "medicare_status": ["20", "10", "31"],
                          "dual_status": ["02", "NA", None], "original_entitlement_reason": ["1", "0", "2"]})
    d = {r["episode_id"]: r for r in risk.demographics(eps, benes, P).iter_rows(named=True)}
    assert (d["e1"]["age"], d["e1"]["age_band"]) == (64, "<65") and d["e2"]["age_band"] == "65-69"
    assert d["e3"]["age_band"] == "85+" and d["e4"]["age_band"] == "unknown"
    assert d["e1"]["dual"] and d["e1"]["disabled"] and not d["e1"]["female"]
    assert d["e3"]["esrd"] and d["e3"]["crec"] == "2" and not d["e2"]["dual"]


def test_R1_hcc_flags_and_risk_score_from_the_library():
    frame = pl.DataFrame({"dx": [["I5020", "E119"], ["I5020", "E119"], []], "age": [72, 72, None],
                          "sex": ["2", "2", None], "dual_status": ["NA", "NA", None],
                          "original_entitlement_reason": ["0", "0", None], "crec": ["0", "0", None]})
    out = risk.hcc_scores(frame, P)
    assert "226" in out["hccs"][0].to_list() and out["hccs"][0].to_list() == out["hccs"][1].to_list()  # V28 HCC 226: heart failure
    assert out["risk_score"][0] > 0.395  # above the F70-74 demographic score alone
    assert out["risk_score"][2] is None and out["hccs"][2].to_list() == []


def _frame(n, cohort="HF", seed=0):
    rng = np.random.default_rng(seed)
    dual = rng.random(n) < 0.3
    y = 1000 + 800 * dual + rng.normal(0, 10, n)
    return pl.DataFrame({"performance_year": 2027, "cohort": cohort, "episode_id": [f"e{i}" for i in range(n)],
                         "fit": True, "observed_cost_winsorized": y, "age_band": "65-69", "female": False,
                         "dual": dual, "disabled": False, "esrd": False, "risk_score": 1.0,
                         "hccs": [[] for _ in range(n)], "specialty": "06"})


def test_R2_fewer_than_200_episodes_gets_the_cohort_mean():
    f = _frame(199)
    out, _ = risk.expected_costs(f, P)
    assert set(out["model"]) == {"cohort_mean"}
    assert out["predicted_cost"].to_list() == pytest.approx([f["observed_cost_winsorized"].mean()] * 199)


def test_R2_linear_model_floor_and_rescale():
    f = _frame(400)
    out, _ = risk.expected_costs(f, P)
    assert set(out["model"]) == {"ols"}
    assert out["predicted_cost"].mean() == pytest.approx(f["observed_cost_winsorized"].mean())
    duals = out.filter(pl.col("dual"))["predicted_cost"].mean() - out.filter(~pl.col("dual"))["predicted_cost"].mean()
    assert duals == pytest.approx(800, abs=5)
    # floor: cost = max(0, 1000 x (risk - 0.5)) with risk uniform on [0, 2]: the straight line predicts
    # below zero for low risk; those predictions are floored at 1% of the mean, then all are rescaled.
    rs = np.linspace(0, 2, 400)
    f2 = f.with_columns(pl.Series("risk_score", rs), pl.lit(False).alias("dual"),
                        pl.Series("observed_cost_winsorized", np.maximum(0, 1000 * (rs - 0.5))))
    out2, _ = risk.expected_costs(f2, P)
    assert out2["predicted_cost"].min() > 0
    assert out2["predicted_cost"].mean() == pytest.approx(f2["observed_cost_winsorized"].mean())


def test_R3_lbp_specialty_oe():
    # LBP: specialty 20 observed 300 vs predicted 200 -> O/E 1.5; specialty 72 observed 100 vs 200 -> 0.5
    f = pl.DataFrame({"performance_year": 2027, "cohort": "LBP", "fit": True, "specialty": ["20", "20", "72", "72"],
                      "observed_cost_winsorized": [100.0, 200.0, 50.0, 50.0], "predicted_cost": [100.0] * 4})
    out = risk.specialty_adjustment(f, P)
    assert out["specialty_oe"].to_list() == [1.5, 1.5, 0.5, 0.5]
    assert out["expected_cost"].to_list() == [150.0, 150.0, 50.0, 50.0]
    hf = risk.specialty_adjustment(f.with_columns(pl.lit("HF").alias("cohort")), P)
    assert hf["specialty_oe"].to_list() == [None] * 4 and hf["expected_cost"].to_list() == [100.0] * 4


def test_R1_hcc_scores_equal_the_library_call_for_every_request():
    """R1 is computed with the library's own steps (mapping, age/sex edits, hierarchies, interactions,
    coefficients), each once per distinct input; for every request the HCC list equals
    hccinfhir.calculate_raf's and the risk score equals its sum of coefficients (exactly rounded).
    The pool mixes diagnoses the library edits by age or sex (including ones that map to several
    categories) with ordinary ones; ages cross the edit and demographic-band boundaries."""
    import math

    from hccinfhir import calculate_raf
    from hccinfhir.defaults import dx_to_cc_default, edits_default

    rng = np.random.default_rng(7)
    edited = sorted(dx for (dx, m) in edits_default if m == P.hcc_model)
    multi = sorted(dx for (dx, m), ccs in dx_to_cc_default.items() if m == P.hcc_model and len(ccs) > 1)
    plain = sorted(dx for (dx, m) in dx_to_cc_default if m == P.hcc_model)[::500]
    pool = edited[:60] + multi[:40] + plain[:80] + ["I509", "E119", "I5022", "N184", "J449"]
    n = 400
    frame = pl.DataFrame({
        "dx": [sorted(set(rng.choice(pool, int(rng.integers(0, 9))))) for _ in range(n)],
        "age": [None if i % 37 == 0 else int(a) for i, a in enumerate(rng.integers(0, 100, n))],
        "sex": rng.choice(["1", "2"], n).tolist(),
        "dual_status": rng.choice(["NA", "02", "08", "00", "XX"], n).tolist(),
        "original_entitlement_reason": rng.choice(["0", "1", "2", "3", ""], n).tolist(),
        "crec": rng.choice(["0", "1", "2", "3"], n).tolist(),
    }, schema_overrides={"dx": pl.List(pl.Utf8), "age": pl.Int64})
    got = risk.hcc_scores(frame, P)
    req = risk._library_inputs(frame, P)
    for i, (dx, age, sex, dual, orec, crec, known) in enumerate(req.iter_rows()):
        ref = calculate_raf(list(dx), model_name=P.hcc_model, age=age, sex=sex, dual_elgbl_cd=dual, orec=orec, crec=crec)
        assert got["hccs"][i].to_list() == sorted(ref.hcc_list, key=risk._hcc_order), (i, dx, age, sex)
        want = math.fsum(ref.coefficients.values()) if known else None
        assert got["risk_score"][i] == want, (i, dx, age)
