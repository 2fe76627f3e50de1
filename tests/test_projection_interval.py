"""V2 (reference distribution), V3 (bootstrap intervals) and V4 (lead figure), on small hand-built inputs."""
from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from pipelines.engine.methodology import load_methodology
from pipelines.engine.projection import cost as vcost, interval
from pipelines.engine.projection.stage import lead

M = load_methodology(2027)
AVERAGES = pl.DataFrame({"cost_measure": ["COST_HF_1"], "cms_performance_year": [2025], "benchmark_year": [2025],
                         "national_average": [15000.0], "source_file": ["x.csv"]})


def _pool_benchmarks(n: int, sd: float, median: float = 4000.0) -> pl.DataFrame:
    return pl.DataFrame({"performance_year": [2027], "cohort": ["HF"], "participants": [n], "median": [median],
                         "sd": [sd]})


POOL_MEAN = pl.DataFrame({"performance_year": [2027], "cohort": ["HF"], "pool_mean": [4400.0]})


def test_V2_spread_from_the_pool_when_large_enough_else_the_default_cv():
    # small pool (5 < 30): SD = 0.20 x 15,000 = 3,000; centre m = 15,000 x DEFAULT median/mean ratio 0.95 = 14,250;
    # T6 = m; T1 = 14,250 + 2.5 x 3,000 = 21,750; T10 = 14,250 - 1.5 x 3,000 = 9,750
    small = vcost.reference_distribution(_pool_benchmarks(5, 800.0), AVERAGES, ["HF"], M, 2027,
                                         POOL_MEAN).row(0, named=True)
    assert small["spread_source"] == vcost.SPREAD_CV and small["sd"] == pytest.approx(3000.0)
    assert small["median_mean_ratio_source"] == vcost.RATIO_DEFAULT and small["median_mean_ratio"] == 0.95
    assert (small["t6"], small["t1"], small["t10"]) == pytest.approx((14250.0, 21750.0, 9750.0))
    assert "DEFAULT coefficient of variation 0.2" in vcost.spread_label(small, M)
    # pool of 30 (= benchmarks.small_pool_participants): its SD 800 and its median / mean 4,000 / 4,400 -> centre
    # 15,000 x 0.909090... = 13,636.36; T1 = 13,636.36 + 2.5 x 800 = 15,636.36
    big = vcost.reference_distribution(_pool_benchmarks(30, 800.0), AVERAGES, ["HF"], M, 2027,
                                       POOL_MEAN).row(0, named=True)
    assert big["spread_source"] == vcost.SPREAD_POOL and big["median_mean_ratio_source"] == vcost.RATIO_POOL
    assert big["t6"] == pytest.approx(15000.0 * 4000 / 4400) and big["t1"] == pytest.approx(15000.0 * 4000 / 4400 + 2000)
    # without the pool's mean (no pool table), the DEFAULT ratio
    assert vcost.reference_distribution(_pool_benchmarks(30, 800.0), AVERAGES, ["HF"], M, 2027).row(
        0, named=True)["t6"] == pytest.approx(14250.0)


def _setup(pool_size: int, seed: int = 7, partb_paid: float | None = 250_000.0):
    """One scored HF participant with 40 own episodes; a peer pool of `pool_size` measure scores drawn from
    N(4,000, 600) (the same generator, so a larger pool extends a smaller one)."""
    rng = np.random.default_rng(seed)
    pool_scores = 4000 + 600 * rng.standard_normal(400)[:pool_size]
    obs = 3000 + 2000 * rng.random(40)
    key = {"performance_year": 2027, "cohort": "HF", "tin": "123456789", "npi": "1000000004"}
    participants = pl.DataFrame([{**key, "cohort_mean_cost": 4000.0}])
    episodes = pl.DataFrame([{**key, "observed_cost": o, "expected_cost": 4000.0} for o in obs])
    pool = pl.DataFrame({"cohort": ["HF"] * pool_size, "measure_score": pool_scores})
    sd = float(np.std(pool_scores, ddof=1))
    reference = vcost.reference_distribution(_pool_benchmarks(pool_size, sd), AVERAGES, ["HF"], M, 2027)
    carried = pl.DataFrame([{**key, "pool_quality_score": 0.6, "projected_quality_score": 0.6, "ia_adjustment": 0.0,
                             "pi_adjustment": -2.0, "complex_bonus": 0.0, "small_practice_bonus": 0.0,
                             "partb_paid": partb_paid}])
    scaling = pl.DataFrame({"cohort": ["HF"], "scaling_factor": [1.2]})
    draws = interval.draw_frame(participants, episodes, pool, reference, M)
    return interval.summarise(interval.score_draws(draws, carried, reference, scaling, M),
                              M.projection.interval_level).row(0, named=True)


def _width(r: dict, figure: str) -> float:
    return r[f"{figure}_high"] - r[f"{figure}_low"]


def test_V3_interval_narrows_as_the_pool_grows():
    small, large = _setup(8), _setup(300)
    assert small["draws"] == large["draws"] == M.projection.bootstrap_draws
    # the pool-based cost points and final score depend on the pool's median and SD: a pool of 300 pins them
    assert _width(large, "pool_cost_points") < _width(small, "pool_cost_points")
    assert _width(large, "pool_final_score") < _width(small, "pool_final_score")
    # the projection's spread is the pool's SD once the pool reaches the small-pool limit (V2): 300 vs 40
    assert _width(_setup(300), "projected_final_score") <= _width(_setup(40), "projected_final_score")
    # and the own-episode part does not depend on the pool
    assert _width(large, "measure_score") == pytest.approx(_width(small, "measure_score"))


def test_V3_seeded_same_inputs_same_interval_and_ordered():
    a, b = _setup(20), _setup(20)
    assert a == b
    for f in ("pool_final_score", "projected_final_score", "pool_factor", "projected_factor"):
        assert a[f"{f}_low"] <= a[f"{f}_high"]
    r = M.payment.risk_level
    assert -r <= a["projected_factor_low"] and a["projected_factor_high"] <= r  # P3 clip


def test_V4_lead_is_the_pool_when_it_meets_the_small_pool_limit():
    frame = pl.DataFrame({"peer_pool_size": [29, 30]})
    out = lead(frame, M)
    assert out["lead"].to_list() == ["projected", "pool"]
    assert "29 < 30" in out["lead_reason"][0]


def test_P3_projection_prices_with_scorings_factor_no_factor_without_part_b_paid():
    """P3 (one home: scoring.payment.adjustment_factor_expr): a participant with a final score > 0 but no
    Part B paid in the PY (B <= 0 or none) gets no adjustment factor, in every bootstrap draw too; with
    B > 0 the projected factor stays inside [-r, +r]."""
    r = M.payment.risk_level
    paid = _setup(30)
    assert paid["pool_factor_low"] is not None and -r <= paid["pool_factor_low"] <= paid["pool_factor_high"] <= r
    for no_paid in (0.0, -50.0, None):
        unpaid = _setup(30, partb_paid=no_paid)
        assert unpaid["pool_final_score_low"] == paid["pool_final_score_low"]  # the score itself is unchanged
        assert unpaid["pool_factor_low"] is None and unpaid["projected_factor_high"] is None
