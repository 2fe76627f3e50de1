"""P1-P4 on hand-worked numbers."""
from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from pipelines.engine.methodology import load_methodology
from pipelines.engine.scoring import payment

P = load_methodology(2027).payment


def _adj(fs, paid, p=P):
    df = pl.DataFrame({"performance_year": [2027] * len(fs), "cohort": ["HF"] * len(fs),
                       "final_score": [float(x) for x in fs], "partb_paid": [float(x) for x in paid]})
    return payment.payment_adjustments(df, p)


def test_P1_risk_level_by_year():
    assert [load_methodology(y).payment.risk_level for y in range(2027, 2032)] == [0.09, 0.09, 0.10, 0.11, 0.12]


def test_P2_transformed_score():
    # FS 50 -> 1 / (1 + e^0) = 0.5;  FS 60 -> 1 / (1 + e^-1) = 0.7310585786
    t = _adj([50, 60], [1, 1])["transformed_score"].to_list()
    assert t == pytest.approx([0.5, 0.7310585786])


def test_P3_P4_scaling_factor_and_budget_identity():
    # T = 0.5 and 0.7310585786, B = 1000 each: sum B = 2000, sum T x B = 1231.0585786
    # S = 0.85 x 2000 / 1231.0585786 = 1.3809254
    # factor A = 0.09 x 0.5 x 1.3809254 - 0.09 = -0.0278583;  factor B = 0.09 x 0.7310586 x 1.3809254 - 0.09 = 0.0008583
    # sum factor x B = -27.0 = -0.15 x 0.09 x 2000
    a = _adj([50, 60], [1000, 1000])
    s = 0.85 * 2000 / (500 + 1000 / (1 + math.exp(-1)))
    assert a["scaling_factor"][0] == pytest.approx(s) and s == pytest.approx(1.3809254, abs=1e-7)
    assert a["adjustment_factor"].to_list() == pytest.approx([-0.0278583, 0.0008583], abs=1e-7)
    assert a["dollar_impact"].sum() == pytest.approx(-27.0)
    b = payment.budget_check(a, P).row(0, named=True)
    assert b["target"] == pytest.approx(-27.0) and b["identity_holds"] and b["pool_participants"] == 2


def test_P3_zero_score_gets_minus_r_and_stays_out_of_the_pool():
    a = _adj([0, 50, 60], [500, 1000, 1000])
    assert a["adjustment_factor"][0] == pytest.approx(-0.09) and a["dollar_impact"][0] == pytest.approx(-45.0)
    b = payment.budget_check(a, P).row(0, named=True)
    assert b["pool_paid"] == 2000 and b["sum_factor_x_paid"] == pytest.approx(-27.0)
    assert b["zero_score_participants"] == 1 and b["zero_score_dollar_impact"] == pytest.approx(-45.0)


def test_P3_scaling_solved_after_clipping_golden():
    # FS 100 with B 100 next to FS 1 with B 10000, r = 0.09 (PY 2027):
    #   T1 = 1 / (1 + e^-5) = 0.9933071,  T2 = 1 / (1 + e^4.9) = 0.0073915
    #   unclipped S = 0.85 x 10100 / (99.33071 + 73.91541) = 49.554: factor 1 = 0.09 x 0.99331 x 49.554 - 0.09
    #   = 4.34 would be clipped to +0.09, and the old S then left factor 2 = 0.09 x (0.0073915 x 49.554 - 1)
    #   = -0.05704: sum factor x B = 9 - 570.35 = -561.35, a 62% withhold instead of 15%.
    # Solved over the clipped set (participant 1 at +r): target = -0.15 x 0.09 x 10100 = -136.35
    #   9 + 0.09 x 10000 x (T2 S - 1) = -136.35  ->  T2 S = 1 - 145.35 / 900 = 0.8385  ->  S = 113.44
    #   (consistent: S >= 2 / T1 = 2.01 and S < 2 / T2 = 270.6); factor 2 = 0.09 x (0.8385 - 1) = -0.014535.
    a = _adj([100, 1], [100, 10000])
    t2 = 1 / (1 + math.exp(4.9))
    assert a["scaling_factor"][0] == pytest.approx(0.8385 / t2) and a["scaling_factor"][0] == pytest.approx(113.44, abs=0.01)
    assert a["unclipped_factor"][0] > 0.09 and a["adjustment_factor"].to_list() == pytest.approx([0.09, -0.014535])
    assert a["dollar_impact"].to_list() == pytest.approx([9.0, -145.35])
    b = payment.budget_check(a, P).row(0, named=True)
    assert b["target"] == pytest.approx(-136.35) and b["sum_factor_x_paid"] == pytest.approx(-136.35)
    assert b["identity_holds"] and b["clipped_participants"] == 1


def test_P3_solve_scaling_without_clipping_is_the_closed_form():
    # T = 0.5, 0.6, B = 100, 300: S = 0.85 x 400 / (50 + 180) = 1.4782609, every factor below +r
    t, b = np.array([0.5, 0.6]), np.array([100.0, 300.0])
    assert payment.solve_scaling(t, b, 0.09, 0.85) == pytest.approx(0.85 * 400 / 230)
    assert payment.solve_scaling(np.array([]), np.array([]), 0.09, 0.85) is None


def test_P3_positive_score_with_no_part_b_paid_gets_no_factor():
    # FS 70 with B = 0 and FS 60 with B = -50 (net of cancels): no factor, status and reason; the pool is
    # the FS 50 participant alone (S = 0.85 x 1000 / 500 = 1.7, factor 0.09 x 0.5 x 1.7 - 0.09 = -0.0135).
    a = _adj([70, 60, 50], [0, -50, 1000])
    rows = a.rows_by_key("final_score", named=True, unique=True)
    for fs in (70.0, 60.0):
        r = rows[fs]
        assert r["payment_status"] == "no_factor" and r["adjustment_factor"] is None and r["dollar_impact"] is None
        assert r["payment_reason"] == payment.NO_FACTOR_REASON and not r["in_payment_pool"]
    assert rows[50.0]["adjustment_factor"] == pytest.approx(-0.0135)
    b = payment.budget_check(a, P).row(0, named=True)
    assert b["pool_participants"] == 1 and b["no_factor_participants"] == 2 and b["identity_holds"]


def test_P2_break_even_score_is_where_T_times_S_is_one():
    # k = 0.1, c = 50 (DEFAULT): S = 1.405 -> T = 1/1.405 -> FS = 50 - ln(0.405)/0.1 = 50 + 9.0387 = 59.0387;
    # S = 2 -> FS = 50 - ln(1)/0.1 = 50 (the logistic midpoint is neutral only when S = 2);
    # S = 1 -> never (every factor below 0); S = 1.0001 -> 50 + 92.1 = 142 > 100 -> none reachable
    from pipelines.engine.methodology import load_methodology
    from pipelines.engine.scoring.payment import adjustment_factor_expr, break_even_score_expr
    pp = load_methodology(2027).payment
    got = pl.DataFrame({"scaling_factor": [1.405, 2.0, 1.0, 1.0001]}).select(break_even_score_expr(pp).alias("b"))["b"]
    assert got[0] == pytest.approx(50 + math.log(1 / 0.405) / 0.1) and got[1] == pytest.approx(50.0)
    assert got[2] is None and got[3] is None
    # and P3's own factor is 0 there
    f = pl.DataFrame({"final_score": [got[0]], "partb_paid": [1.0], "scaling_factor": [1.405]}).select(
        adjustment_factor_expr(pp))[0, 0]
    assert f == pytest.approx(0.0, abs=1e-12)
