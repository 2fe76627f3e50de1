"""Property tests: B3 points stay in [1, 10] and never rise with cost; the P3 budget identity holds."""
from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.engine.methodology import load_methodology
from pipelines.engine.scoring import cost, payment

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


def _assert_withhold_after_clipping(adj: pl.DataFrame, pp) -> pl.DataFrame:
    """P3 on the table itself: every factor in [-r, r]; over the pool sum(factor x B) = -(1 - 0.85) r sum B."""
    r = pp.risk_level
    assert adj["adjustment_factor"].drop_nulls().is_between(-r, r).all()
    pool = adj.filter(pl.col("in_payment_pool"))
    if pool.height:
        paid = pool["partb_paid"].sum()
        withheld = (pool["adjustment_factor"] * pool["partb_paid"]).sum()
        assert abs(withheld + (1 - pp.payback_share) * r * paid) <= 1e-6 * max(paid, 1.0)
        # within the pool a higher final score never gets a lower factor (P2 is increasing, S > 0)
        ordered = pool.sort("final_score")["adjustment_factor"].to_list()
        assert all(b >= a - 1e-12 for a, b in zip(ordered, ordered[1:]))
    check = payment.budget_check(adj, pp)
    assert check.filter(pl.col("pool_participants").is_not_null())["identity_holds"].all()
    return check


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 100), money), min_size=1, max_size=40), st.sampled_from(range(2027, 2032)))
def test_P3_budget_identity_on_random_pools(rows, year):
    pp = load_methodology(year).payment
    df = pl.DataFrame({"performance_year": year, "cohort": "LBP", "final_score": [r[0] for r in rows],
                       "partb_paid": [r[1] for r in rows]})
    _assert_withhold_after_clipping(payment.payment_adjustments(df, pp), pp)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.floats(85, 100), st.floats(1.0, 500.0)), min_size=1, max_size=8),
       st.lists(st.tuples(st.floats(0.01, 30), st.floats(5e3, 1e6)), min_size=1, max_size=30),
       st.sampled_from(range(2027, 2032)))
def test_P3_withhold_holds_after_forced_clipping(high, low, year):
    # high scorers with little Part B next to low scorers with much: the unclipped S pushes the high
    # scorers far above +r, so clipping binds; S is solved over the clipped set and the 15% holds.
    pp = load_methodology(year).payment
    rows = high + low
    df = pl.DataFrame({"performance_year": year, "cohort": "HF", "final_score": [r[0] for r in rows],
                       "partb_paid": [r[1] for r in rows]})
    adj = payment.payment_adjustments(df, pp)
    check = _assert_withhold_after_clipping(adj, pp)
    assert check["clipped_participants"][0] >= 1  # the case really is one where clipping binds
