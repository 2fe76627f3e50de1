"""Property tests: B3 points stay in [1, 10] and never rise with cost; the P3 budget identity holds."""
from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.methodology import load_methodology
from pipelines.scoring import cost, payment

CP = load_methodology(2027).benchmarks
money = st.floats(min_value=1.0, max_value=1e6, allow_nan=False, allow_infinity=False)


def _points(pool, scores):
    bench = cost.cost_benchmarks(pl.DataFrame({"performance_year": 2027, "cohort": "HF", "measure_score": pool}), CP)
    df = pl.DataFrame({"performance_year": 2027, "cohort": "HF", "measure_score": scores})
    return cost.cost_points(df, bench, CP)["cost_points"].to_list()


@settings(max_examples=60, deadline=None)
@given(st.lists(money, min_size=1, max_size=30), st.lists(money, min_size=1, max_size=30))
def test_B3_points_in_1_10_and_monotone(pool, scores):
    scores = sorted(scores)
    pts = _points(pool, scores)
    assert all(1.0 <= x <= 10.0 for x in pts)
    assert all(a >= b for a, b in zip(pts, pts[1:]))  # more cost never earns more points


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 100), money), min_size=1, max_size=40), st.sampled_from(range(2027, 2032)))
def test_P3_budget_identity_on_random_pools(rows, year):
    pp = load_methodology(year).payment
    df = pl.DataFrame({"performance_year": year, "cohort": "LBP", "final_score": [r[0] for r in rows],
                       "partb_paid": [r[1] for r in rows]})
    adj = payment.payment_adjustments(df, pp)
    assert adj["adjustment_factor"].is_between(-pp.risk_level, pp.risk_level).all()
    check = payment.budget_check(adj, pp)
    pooled = check.filter(pl.col("pool_participants").is_not_null())
    assert pooled["identity_holds"].all()
