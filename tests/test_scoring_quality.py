"""Q2-Q5, Q7 on hand-worked numbers."""
from __future__ import annotations

import polars as pl
import pytest

from pipelines.engine.methodology import load_methodology
from pipelines.engine.reference import resolve_dir
from pipelines.engine.scoring import quality, side_inputs
from pipelines.engine.scoring.params import quality_params

M = load_methodology(2027)
P = quality_params(M)
CMS_TYPES = side_inputs.cms_collection_types(resolve_dir(M.quality.cms_measures_file))


def subs(rows):
    """rows: (tin, npi, measure, collection, eligible, met, not_met, exceptions)."""
    return pl.DataFrame(
        [dict(performance_year=2027, tin=t, npi=n, measure_id=m, collection_type=c, eligible_population=float(e),
              performance_met=float(a), performance_not_met=float(b), denominator_exceptions=float(x))
         for t, n, m, c, e, a, b, x in rows],
        schema=side_inputs.SUBMISSION_COLUMNS,
    ).with_row_index("source_row", offset=1).with_columns(pl.col("source_row").cast(pl.Int64))


def _bench(rates):
    """Q5 over rows that are all in the peer pool (the pool itself is tested below)."""
    return quality.quality_benchmarks(rates.with_columns(pl.lit(True).alias("in_peer_pool")), P)


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
    pts = quality.measure_points(r, _bench(r), P)
    assert pts["zero_reason"][0] == "Q3_completeness_below_minimum" and pts["points"][0] == 0.0
    assert pts["points"][1] == 10.0  # the only benchmark member: every boundary equals its rate -> decile 10


def test_Q4_19_vs_20_cases():
    r = quality.measure_rates(subs([("T1", "A", "Q008", "ecqm", 19, 10, 9, 0),
                                    ("T1", "B", "Q008", "ecqm", 20, 10, 10, 0)]), P)
    assert r["meets_case_minimum"].to_list() == [False, True]
    pts = quality.measure_points(r, _bench(r), P)
    assert pts["zero_reason"].to_list() == ["Q4_below_case_minimum", None]


def _pool(measure):
    # 11 participants with rates 0.0, 0.1, ..., 1.0 (k x 10 met of 100 cases): the linear 10%..90%
    # quantiles fall exactly on members, so d_k = k / 10 (higher is better).
    return subs([("T1", f"N{k}", measure, "ecqm", 100, 10 * k, 100 - 10 * k, 0) for k in range(11)])


def _score(measure, met, pool):
    r = quality.measure_rates(pool, P)
    bench = _bench(r)
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
    bench = _bench(quality.measure_rates(pool, P))
    assert bench["collection_type"].to_list() == ["ecqm", "mips_cqm"] and bench["participants"].to_list() == [1, 1]


def test_Q7_quality_score_with_tin_level_rows_and_best_collection_type_also_per_V3_draw():
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
    bench = _bench(all_rates.filter(pl.col("tin") == "T1"))
    bench = pl.concat([bench, bench.filter(pl.col("measure_id") == "Q008").with_columns(
        pl.lit("mips_cqm").alias("collection_type"))])
    pts = quality.measure_points(quality.measure_rates(rows, P), bench, P)
    parts = pl.DataFrame({"performance_year": [2027], "cohort": ["HF"], "tin": ["T9"], "npi": ["N1"]})
    q = quality.participant_quality(parts, quality.best_points_per_measure(parts, pts, P), P).row(0, named=True)
    assert q["measures_scored"] == 4
    assert q["quality_points"] == pytest.approx(10 + 1.45)
    assert q["quality_score"] == pytest.approx(11.45 / 40)
    assert q["has_non_claims_submission"]
    # V3's draws: points only (no provenance) give the same Q7; per draw (by=draw), a draw in which the TIN-level
    # Q008 row earns 2.0 keeps the own row's 4.45 -> (4.45 + 1.45) / 40
    lean = quality.best_points_per_measure(parts, pts, P, provenance=False)
    assert quality.participant_quality(parts, lean, P).row(0, named=True)["quality_score"] == q["quality_score"]
    tin_q008 = pl.col("npi").is_null() & (pl.col("measure_id") == "Q008")
    drawn = pl.concat([pts.with_columns(pl.lit(0).alias("draw")), pts.with_columns(
        pl.lit(1).alias("draw"), pl.when(tin_q008).then(2.0).otherwise(pl.col("points")).alias("points"))])
    who = parts.join(pl.DataFrame({"draw": [0, 1]}), how="cross")
    per_draw = quality.participant_quality(who, quality.best_points_per_measure(
        who, drawn, P, by=("draw",), provenance=False), P, by=("draw",)).sort("draw")
    assert per_draw["quality_score"].to_list() == pytest.approx([11.45 / 40, (4.45 + 1.45) / 40])


def test_Q7_no_submission_scores_zero_and_claims_only_is_not_a_non_claims_submission():
    rows = subs([("T9", "N1", "Q008", "claims", 100, 50, 50, 0)])
    pts = quality.measure_points(quality.measure_rates(rows, P), _bench(quality.measure_rates(rows, P)), P)
    parts = pl.DataFrame({"performance_year": [2027, 2027], "cohort": ["HF", "LBP"], "tin": ["T9", "T9"],
                          "npi": ["N1", "N2"]})
    best = quality.best_points_per_measure(parts, pts, P)
    q = {r["npi"]: r for r in quality.participant_quality(parts, best, P).iter_rows(named=True)}
    assert q["N1"]["quality_score"] == pytest.approx(10 / 40) and not q["N1"]["has_non_claims_submission"]
    assert q["N2"]["quality_score"] == 0.0 and q["N2"]["measures_scored"] == 4  # LBP: Q238, Q134, Q128, Q220


def _practices(sizes):
    return pl.DataFrame([(t, n, "practice_attestations") for t, n in sizes.items()],
                        schema={"tin": pl.Utf8, "clinician_count": pl.Int64, "clinician_count_source": pl.Utf8},
                        orient="row")


def test_Q2_rows_refused_with_their_reason():
    # CMS 2027: Q005 and Q008 ecqm/mips_cqm only, Q220 mips_cqm only, Q377 ecqm only, Q492 computed by CMS.
    rows = subs([
        ("T1", "N1", "Q008", "ecqm", 100, 60, 30, 5),        # 1 accepted
        ("T1", "N1", "Q005", "claims", 100, 60, 30, 5),      # 2 no claims type
        ("T1", "N1", "Q220", "ecqm", 100, 60, 30, 5),        # 3 Q220 is MIPS CQM only
        ("T1", "N1", "Q377", "mips_cqm", 100, 60, 30, 5),    # 4 Q377 is eCQM only
        ("T1", "N1", "Q999", "ecqm", 100, 60, 30, 5),        # 5 not an ASM measure
        ("T1", "N1", "Q236", "ecqm", 100, -1, 30, 5),        # 6 negative count
        ("T1", "N1", "Q236", "mips_cqm", 100, 60, 30, 20),   # 7 60 + 30 + 20 = 110 > 100
        ("T16", None, "Q008", "ecqm", 100, 60, 30, 5),       # 8 TIN-level, 16 clinicians > 15: ignored
        ("T15", None, "Q008", "ecqm", 100, 60, 30, 5),       # 9 TIN-level, 15 clinicians: accepted
        ("T0", None, "Q008", "ecqm", 100, 60, 30, 5),        # 10 TIN-level, no clinician count
        ("T1", "N1", "Q492", "claims", 100, 10, 90, 0),      # 11 Q492: administrative claims, not submitted
    ])
    accepted, issues = quality.screen_submissions(rows, CMS_TYPES, _practices({"T1": 3, "T16": 16, "T15": 15}), P, 15)
    assert accepted["source_row"].to_list() == [1, 9]
    assert dict(zip(issues["source_row"], issues["reason"])) == {
        2: "Q2: Q005 has no collection type 'claims' (CMS measure file: ecqm, mips_cqm)",
        3: "Q2: Q220 has no collection type 'ecqm' (CMS measure file: mips_cqm)",
        4: "Q2: Q377 has no collection type 'mips_cqm' (CMS measure file: ecqm)",
        5: "Q1: Q999 is not an ASM measure (quality.required_measures)",
        6: "Q2: negative count",
        7: "Q2: met + not met + exceptions (110) exceed the eligible population (100)",
        8: "Q2: TIN-level row of a practice of 16 clinicians (> 15; S5 count from practice_attestations): ignored",
        10: "Q2: TIN-level row of a practice without a clinician count (no clinician_count, no Part B lines in the PY)",
        11: "Q2: Q492 has no collection type 'claims' (CMS measure file: none submittable)",
    }
    assert set(issues["rule"]) == {"Q1", "Q2"} and set(issues["source_file"]) == {"quality_submissions.csv"}
    assert list(issues.columns) == list(quality.ISSUE_COLUMNS) and "bene_id" not in issues.columns


def test_Q2_cms_measure_file_of_a_newer_year_loads(tmp_path):
    # same shape, other column order, an extra column, ids with or without the Q prefix
    f = tmp_path / "mips_measures_2028.csv"
    f.write_text("title,submission_methods,measure_id,extra\nX,registry;electronicHealthRecord,Q005,1\n"
                 "Y,claims,236,2\nZ,administrativeClaims,492,3\n")
    assert side_inputs.cms_collection_types(f) == {"Q005": ("mips_cqm", "ecqm"), "Q236": ("claims",), "Q492": ()}
    bad = tmp_path / "bad.csv"
    bad.write_text("measure,methods\n005,registry\n")
    with pytest.raises(side_inputs.SideInputError) as err:
        side_inputs.cms_collection_types(bad)
    assert str(err.value) == f"{bad}: CMS measure file lacks column(s) measure_id, submission_methods " \
                             "(expected measure_id, submission_methods)"
    assert CMS_TYPES["Q220"] == ("mips_cqm",) and CMS_TYPES["Q377"] == ("ecqm",) and CMS_TYPES["Q492"] == ()


def _participants(rows):
    """rows: (tin, npi, eligible, meets_case_minimum), all HF in PY 2027."""
    return pl.DataFrame([dict(performance_year=2027, cohort="HF", tin=t, npi=n, eligible=e, meets_case_minimum=c)
                         for t, n, e, c in rows])


def test_Q5_benchmarks_from_the_B1_peer_pool_one_rate_per_participant():
    # Pool (eligible and >= 20 episodes): T1/A, T1/B, T1/F, T2/C. Not in the pool: T3/D (not eligible),
    # T4/E (below the case minimum), T5 (no clinician in the pool).
    # Q008 eCQM rows: A own 0.9; T1 TIN-level 0.5 (B and F have no own row: it counts ONCE for T1, not
    # twice); C own 0.7; D own 0.1 and E own 0.2 (outside the pool); T5 TIN-level 0.3 (no pool member).
    # Benchmark over {0.5, 0.7, 0.9}: 3 participants, worst 0.5, d1 = 0.5 + 0.1 x 2 x 0.2 = 0.54 (linear),
    # d5 = the median 0.7, d9 = 0.7 + 0.8 x 0.2 = 0.86.
    parts = _participants([("T1", "A", True, True), ("T1", "B", True, True), ("T1", "F", True, True),
                           ("T2", "C", True, True), ("T3", "D", False, True), ("T4", "E", True, False)])
    rows = subs([("T1", "A", "Q008", "ecqm", 100, 90, 10, 0), ("T1", None, "Q008", "ecqm", 100, 50, 50, 0),
                 ("T2", "C", "Q008", "ecqm", 100, 70, 30, 0), ("T3", "D", "Q008", "ecqm", 100, 10, 90, 0),
                 ("T4", "E", "Q008", "ecqm", 100, 20, 80, 0), ("T5", None, "Q008", "ecqm", 100, 30, 70, 0)])
    rates = quality.with_peer_pool(quality.measure_rates(rows, P), parts)
    assert rates["in_peer_pool"].to_list() == [True, True, True, False, False, False]
    bench = quality.quality_benchmarks(rates, P).row(0, named=True)
    assert bench["participants"] == 3 and bench["worst_rate"] == pytest.approx(0.5)
    assert (bench["d1"], bench["d5"], bench["d9"]) == pytest.approx((0.54, 0.7, 0.86))


def test_Q5_an_own_row_takes_precedence_over_the_tin_level_row():
    # T1's two pool clinicians both submitted own Q008 eCQM rows: the TIN-level row would be a third rate
    # for the same two participants, so it stays out of the benchmark (it still earns points, Q7).
    parts = _participants([("T1", "A", True, True), ("T1", "B", True, True)])
    rows = subs([("T1", "A", "Q008", "ecqm", 100, 90, 10, 0), ("T1", "B", "Q008", "ecqm", 100, 80, 20, 0),
                 ("T1", None, "Q008", "ecqm", 100, 50, 50, 0), ("T1", None, "Q008", "mips_cqm", 100, 50, 50, 0)])
    rates = quality.with_peer_pool(quality.measure_rates(rows, P), parts)
    # the MIPS CQM TIN-level row is the only rate of that collection type for A and B: it counts once
    assert rates["in_peer_pool"].to_list() == [True, True, False, True]
    bench = quality.quality_benchmarks(rates, P)
    assert dict(zip(bench["collection_type"], bench["participants"])) == {"ecqm": 2, "mips_cqm": 1}
