"""Q2-Q5, Q7 on hand-worked numbers."""
from __future__ import annotations

import polars as pl
import pytest

from pipelines.methodology import load_methodology
from pipelines.scoring import quality
from pipelines.scoring.params import quality_params

P = quality_params(load_methodology(2027))


def subs(rows):
    """rows: (tin, npi, measure, collection, eligible, met, not_met, exceptions)."""
    return pl.DataFrame(
        [dict(performance_year=2027, tin=t, npi=n, measure_id=m, collection_type=c, eligible_population=float(e),
              performance_met=float(a), performance_not_met=float(b), denominator_exceptions=float(x))
         for t, n, m, c, e, a, b, x in rows],
        schema=quality.SUBMISSION_COLUMNS,
    )


def test_Q2_Q3_rate_and_completeness():
    # met 30, not met 10, exceptions 5, eligible 50: rate 30 / 40 = 0.75; completeness 45 / 50 = 0.9
    r = quality.measure_rates(subs([("T1", "N1", "Q008", "ecqm", 50, 30, 10, 5)]), P).row(0, named=True)
    assert r["performance_rate"] == 0.75 and r["data_completeness"] == 0.9 and r["cases"] == 40
    assert r["cohort"] == "HF" and r["in_benchmark"]


def test_Q3_completeness_749_vs_750_per_mille():
    # 600 + 149 + 0 = 749 of 1000 = 74.9% -> fails; 600 + 150 = 750 of 1000 = 75% -> passes
    r = quality.measure_rates(subs([("T1", "A", "Q008", "ecqm", 1000, 600, 149, 0),
                                    ("T1", "B", "Q008", "ecqm", 1000, 600, 150, 0)]), P)
    assert r["meets_completeness"].to_list() == [False, True]
    pts = quality.measure_points(r, quality.quality_benchmarks(r, P), P)
    assert pts["zero_reason"][0] == "Q3_completeness_below_minimum" and pts["points"][0] == 0.0
    assert pts["points"][1] == 10.0  # the only benchmark member: every boundary equals its rate -> decile 10


def test_Q4_19_vs_20_cases():
    r = quality.measure_rates(subs([("T1", "A", "Q008", "ecqm", 19, 10, 9, 0),
                                    ("T1", "B", "Q008", "ecqm", 20, 10, 10, 0)]), P)
    assert r["meets_case_minimum"].to_list() == [False, True]
    pts = quality.measure_points(r, quality.quality_benchmarks(r, P), P)
    assert pts["zero_reason"].to_list() == ["Q4_below_case_minimum", None]


def _pool(measure):
    # 11 participants with rates 0.0, 0.1, ..., 1.0 (k x 10 met of 100 cases): the linear 10%..90%
    # quantiles fall exactly on members, so d_k = k / 10 (higher is better).
    return subs([("T1", f"N{k}", measure, "ecqm", 100, 10 * k, 100 - 10 * k, 0) for k in range(11)])


def _score(measure, met, pool):
    r = quality.measure_rates(pool, P)
    bench = quality.quality_benchmarks(r, P)
    one = quality.measure_rates(subs([("T9", "X", measure, "ecqm", 1000, met, 1000 - met, 0)]), P)
    return bench, quality.measure_points(one, bench, P).row(0, named=True)


def test_Q5_decile_boundaries():
    bench, _ = _score("Q008", 500, _pool("Q008"))
    row = bench.row(0, named=True)
    assert row["participants"] == 11 and row["direction"] == "higher_is_better"
    assert [row[f"d{k}"] for k in range(1, 10)] == pytest.approx([k / 10 for k in range(1, 10)])


@pytest.mark.parametrize("met,decile,points", [
    (0, 1, 1.0),        # the pool's worst rate: decile 1, position 0
    (50, 1, 1.45),      # 0.05: 1 + 0.9 x (0.05 - 0) / 0.1
    (300, 4, 4.0),      # 0.3 = d3: a boundary belongs to the better decile (4), position 0
    (350, 4, 4.45),     # 4 + 0.9 x (0.35 - 0.3) / 0.1
    (850, 9, 9.45),
    (900, 10, 10.0),    # = d9: decile 10 earns 10.0
    (1000, 10, 10.0),
])
def test_Q5_points_with_partial_point(met, decile, points):
    _, r = _score("Q008", met, _pool("Q008"))
    assert r["decile"] == decile and r["points"] == pytest.approx(points)


@pytest.mark.parametrize("met,decile,points", [
    (100, 10, 10.0),   # lower is better: 0.1 = d9 (the 10th best) -> decile 10
    (1000, 1, 1.0),    # the worst (highest) rate
    (650, 4, 4.45),    # -0.65 lies half-way between -0.7 (b3) and -0.6 (b4)
    (700, 4, 4.0),     # 0.7 = d3 -> the better decile 4
])
def test_Q5_lower_is_better_measure(met, decile, points):
    bench, r = _score("Q238", met, _pool("Q238"))
    row = bench.row(0, named=True)
    assert row["direction"] == "lower_is_better" and row["d1"] == pytest.approx(0.9) and row["d9"] == pytest.approx(0.1)
    assert r["decile"] == decile and r["points"] == pytest.approx(points)


def test_Q5_tied_boundaries_push_to_the_better_decile():
    # 10 participants at 0.5 and one at 0.9: d1..d9 all 0.5; a rate of 0.5 passes all nine -> decile 10
    pool = subs([("T1", f"N{k}", "Q008", "ecqm", 100, 50, 50, 0) for k in range(10)]
                + [("T1", "N10", "Q008", "ecqm", 100, 90, 10, 0)])
    bench, r = _score("Q008", 500, pool)
    assert {bench[f"d{k}"][0] for k in range(1, 10)} == {0.5}
    assert r["decile"] == 10 and r["points"] == 10.0
    _, low = _score("Q008", 400, pool)  # below the pool's worst rate: decile 1, position clamped to 0
    assert low["decile"] == 1 and low["points"] == 1.0


def test_Q5_benchmarks_are_per_collection_type():
    pool = subs([("T1", "A", "Q008", "ecqm", 100, 50, 50, 0), ("T1", "B", "Q008", "mips_cqm", 100, 80, 20, 0)])
    bench = quality.quality_benchmarks(quality.measure_rates(pool, P), P)
    assert bench["collection_type"].to_list() == ["ecqm", "mips_cqm"] and bench["participants"].to_list() == [1, 1]


def test_Q7_quality_score_with_tin_level_rows_and_best_collection_type():
    # HF scores 4 measures here (Q492 needs Part A, Q6, not scored): denominator 10 x 4 = 40.
    # N1: Q008 own row 4.45 points, and a TIN-level Q008 row earning 10 -> best 10;
    #     Q005 TIN-level 1.45; Q236 not submitted 0; Q377 submitted at 74.9% completeness 0.
    pool = _pool("Q008")
    pool_005 = _pool("Q005")
    rows = subs([
        ("T9", "N1", "Q008", "ecqm", 1000, 350, 650, 0),
        ("T9", None, "Q008", "mips_cqm", 1000, 950, 50, 0),
        ("T9", None, "Q005", "ecqm", 1000, 50, 950, 0),
        ("T9", "N1", "Q377", "ecqm", 1000, 600, 149, 0),
    ])
    all_rates = quality.measure_rates(pl.concat([pool, pool_005, rows.filter(pl.col("npi").is_null())]), P)
    bench = quality.quality_benchmarks(all_rates.filter(pl.col("tin") == "T1"), P)
    bench = pl.concat([bench, bench.filter(pl.col("measure_id") == "Q008").with_columns(
        pl.lit("mips_cqm").alias("collection_type"))])
    pts = quality.measure_points(quality.measure_rates(rows, P), bench, P)
    parts = pl.DataFrame({"performance_year": [2027], "cohort": ["HF"], "tin": ["T9"], "npi": ["N1"]})
    q = quality.participant_quality(parts, quality.best_points_per_measure(parts, pts, P), P).row(0, named=True)
    assert q["measures_scored"] == 4
    assert q["quality_points"] == pytest.approx(10 + 1.45)
    assert q["quality_score"] == pytest.approx(11.45 / 40)
    assert q["has_non_claims_submission"]


def test_Q7_no_submission_scores_zero_and_claims_only_is_not_a_non_claims_submission():
    rows = subs([("T9", "N1", "Q008", "claims", 100, 50, 50, 0)])
    pts = quality.measure_points(quality.measure_rates(rows, P),
                                 quality.quality_benchmarks(quality.measure_rates(rows, P), P), P)
    parts = pl.DataFrame({"performance_year": [2027, 2027], "cohort": ["HF", "LBP"], "tin": ["T9", "T9"],
                          "npi": ["N1", "N2"]})
    best = quality.best_points_per_measure(parts, pts, P)
    q = {r["npi"]: r for r in quality.participant_quality(parts, best, P).iter_rows(named=True)}
    assert q["N1"]["quality_score"] == pytest.approx(10 / 40) and not q["N1"]["has_non_claims_submission"]
    assert q["N2"]["quality_score"] == 0.0 and q["N2"]["measures_scored"] == 4  # LBP: Q238, Q134, Q128, Q220
