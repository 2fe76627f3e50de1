"""R4, R5, B2-B4 on hand-worked numbers.

Pool measure scores 90, 100, 110 -> median m = 100, sample SD = sqrt((100 + 0 + 100) / 2) = 10, so
T1..T10 = 125, 120, 115, 110, 105, 100, 95, 90, 87.5, 85.
"""
from __future__ import annotations

import polars as pl
import pytest

from pipelines.engine.methodology import load_methodology
from pipelines.engine.scoring import cost

P = load_methodology(2027).benchmarks


def _bench(scores):
    pool = pl.DataFrame({"performance_year": [2027] * len(scores), "cohort": ["HF"] * len(scores),
                         "measure_score": [float(s) for s in scores]})
    return cost.cost_benchmarks(pool, P)


def _points(bench, c):
    df = pl.DataFrame({"performance_year": [2027], "cohort": ["HF"], "measure_score": [float(c)]})
    return cost.cost_points(df, bench, P)["cost_points"][0]


def test_B2_B3_thresholds_from_median_and_sample_sd():
    b = _bench([90, 100, 110])
    row = b.row(0, named=True)
    assert row["participants"] == 3 and row["median"] == 100 and row["sd"] == pytest.approx(10.0)
    assert [row[f"t{k}"] for k in range(1, 11)] == pytest.approx([125, 120, 115, 110, 105, 100, 95, 90, 87.5, 85])


# (score, points): at every boundary T(k) the score earns exactly k (T10 and below earn 10);
# half-way between T(k) and T(k+1) it earns k + 0.9 x 0.5 = k + 0.45.
CASES = [
    (130, 1.0),      # above T1
    (125, 1.0),      # = T1: k = 1, 1 + 0.9 x 0
    (122.5, 1.45),   # 1 + 0.9 x (125 - 122.5) / 5
    (120, 2.0), (117.5, 2.45), (115, 3.0), (112.5, 3.45), (110, 4.0), (107.5, 4.45),
    (105, 5.0), (102.5, 5.45),
    (100, 6.0),      # exactly the median earns 6.0
    (97.5, 6.45), (95, 7.0), (92.5, 7.45), (90, 8.0),
    (88.75, 8.45),   # 8 + 0.9 x (90 - 88.75) / (90 - 87.5)
    (87.5, 9.0),
    (86.25, 9.45),   # 9 + 0.9 x (87.5 - 86.25) / (87.5 - 85)
    (85, 10.0),      # = T10
    (60, 10.0),      # below T10
]


@pytest.mark.parametrize("score,expected", CASES)
def test_B3_points_at_and_between_every_boundary(score, expected):
    assert _points(_bench([90, 100, 110]), score) == pytest.approx(expected)


def test_B3_median_of_even_pool_earns_six():
    # pool 80, 90, 110, 120: median (90 + 110) / 2 = 100, itself not a pool member
    assert _points(_bench([80, 90, 110, 120]), 100) == pytest.approx(6.0)


def test_B3_sigma_zero_and_single_member_pool():
    # sigma = 0: every threshold is m = 100; the median earns 6.0 [DEFAULT], above 1.0, below 10.0
    b = _bench([100, 100, 100])
    assert b["sd"][0] == 0
    assert (_points(b, 100), _points(b, 100.01), _points(b, 99.99)) == (6.0, 1.0, 10.0)
    one = _bench([100])  # sample SD of one score is undefined (null)
    assert one["sd"][0] is None and _points(one, 100) == 6.0


def test_B4_cost_score_is_points_over_ten():
    df = pl.DataFrame({"performance_year": [2027], "cohort": ["HF"], "measure_score": [102.5]})
    assert cost.cost_points(df, _bench([90, 100, 110]), P)["cost_score"][0] == pytest.approx(0.545)


def _attributed(n, obs, exp, tin="T1", npi="N1"):
    return pl.DataFrame({"performance_year": [2027] * n, "cohort": ["HF"] * n, "tin": [tin] * n, "npi": [npi] * n,
                         "observed_cost": [float(obs)] * n, "expected_cost": [float(exp)] * n})


def test_R4_measure_score_is_oe_times_cohort_mean():
    # cohort episodes observed 100, 200, 300, 400 -> mean 250.
    # participant: episodes (obs 100, exp 150) and (obs 200, exp 250): O/E = 300 / 400 = 0.75 -> 0.75 x 250 = 187.5
    episodes = pl.DataFrame({"performance_year": [2027] * 4, "cohort": ["HF"] * 4,
                             "observed_cost": [100.0, 200.0, 300.0, 400.0]})
    att = pl.DataFrame({"performance_year": [2027, 2027], "cohort": ["HF", "HF"], "tin": ["T1", "T1"],
                        "npi": ["N1", "N1"], "observed_cost": [100.0, 200.0], "expected_cost": [150.0, 250.0]})
    out = cost.cost_measure_scores(att, cost.cohort_mean_cost(episodes), P).row(0, named=True)
    assert out["episodes"] == 2 and out["oe_ratio"] == pytest.approx(0.75)
    assert out["measure_score"] == pytest.approx(187.5) and out["cohort_mean_cost"] == 250.0


def test_R5_19_vs_20_episodes():
    att = pl.concat([_attributed(19, 100, 100, npi="N19"), _attributed(20, 100, 100, npi="N20")])
    means = cost.cohort_mean_cost(att)
    out = {r["npi"]: r["scored"] for r in cost.cost_measure_scores(att, means, P).iter_rows(named=True)}
    assert out == {"N19": False, "N20": True}
