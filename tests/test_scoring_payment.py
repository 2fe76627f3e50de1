"""P1-P4 on hand-worked numbers."""
from __future__ import annotations

import math

import polars as pl
import pytest

from pipelines.methodology import load_methodology
from pipelines.scoring import payment

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
    assert b["pool_paid"] == 2000 and b["sum_factor_x_paid_unclipped"] == pytest.approx(-27.0)
    assert b["zero_score_participants"] == 1 and b["zero_score_dollar_impact"] == pytest.approx(-45.0)


def test_P3_clipping_after_the_identity():
    # FS 100 with B 100 next to FS 1 with B 10000: S = 0.85 x 10100 / (100 x 0.99331 + 10000 x 0.0073915) ~ 49.6,
    # so the top factor 0.09 x 0.9933 x 49.6 - 0.09 ~ 4.3 is clipped to +r = 0.09; the identity holds before clipping.
    a = _adj([100, 1], [100, 10000])
    assert a["unclipped_factor"][0] > 4 and a["adjustment_factor"][0] == pytest.approx(0.09)
    b = payment.budget_check(a, P).row(0, named=True)
    assert b["identity_holds"] and b["sum_factor_x_paid_clipped"] != pytest.approx(b["target"])
