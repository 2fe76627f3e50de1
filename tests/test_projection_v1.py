"""V1: projected quality points on CMS's latest published MIPS percentiles (the shipped
data/reference/qpp/mips_quality_benchmarks.csv), through Q5's interpolation. Rates sit exactly on the
published boundaries; every expected value is worked out by hand below from the CSV rows quoted."""
from __future__ import annotations

import polars as pl
import pytest

from pipelines.engine.methodology import load_methodology
from pipelines.engine.paths import REPO_ROOT
from pipelines.engine.projection import quality as vq
from pipelines.engine.qpp import ReferenceFileError, load_cost_averages, load_quality_benchmarks
from pipelines.engine.scoring.params import quality_params

M = load_methodology(2027)
QP = quality_params(M, part_a_supplied=True)
FILE = M.projection.quality_benchmarks_file

# The rows used (latest MIPS PY <= 2027 for the measure and submission method):
# Q005 electronicHealthRecord, MIPS PY 2026 (benchmark year 2024), direct:
#   p1 50, p10 67.35, p20 74.19, p30 77.34, p40 79.77, p50 81.74, p60 83.82, p70 86.19, p80 89.54, p90 93.33, p99 100
# Q238 electronicHealthRecord, MIPS PY 2026 (benchmark year 2024), inverse, topped out:
#   p1 0, p10 0, p20 0, p30 0, p40 0.14, p50 0.66, p60 2.02, p70 5.23, p80 10.16, p90 15.85, p99 30.71
# Q236 registry, MIPS PY 2026: p1 1, p10 10, ..., p99 99 = CMS's placeholder (no benchmark).


def _row(measure, collection, met, not_met, npi="1000000004"):
    return {"performance_year": 2027, "cohort": "HF" if measure in ("Q005", "Q236") else "LBP", "tin": "123456789",
            "npi": npi, "measure_id": measure, "collection_type": collection, "cases": float(met + not_met),
            "data_completeness": 1.0, "performance_rate": met / (met + not_met), "decile": 7, "points": 7.5,
            "zero_reason": None}


CASES = [
    # rate 7419/10000 = 74.19% = p20: Q5 "a rate equal to a boundary belongs to the better decile":
    # decile 3 (>= p10 and >= p20), position (74.19 - 74.19) / (77.34 - 74.19) = 0 -> 3 + 0.9 x 0 = 3.0
    ("Q005", "ecqm", 7419, 2581, 3, 3.0),
    # 81.74% = p50 -> decile 6, position 0 -> 6.0 (the median earns 6, as B3's median does)
    ("Q005", "ecqm", 8174, 1826, 6, 6.0),
    # 93.33% = p90 -> decile 10 -> decile_10_points = 10.0
    ("Q005", "ecqm", 9333, 667, 10, 10.0),
    # 50% = p1, the worst end of decile 1 -> 1 + 0.9 x 0 = 1.0
    ("Q005", "ecqm", 50, 50, 1, 1.0),
    # 78% between p30 77.34 and p40 79.77 -> decile 4, position 0.66 / 2.43 = 0.271605 -> 4.244444
    ("Q005", "ecqm", 78, 22, 4, 4 + 0.9 * 0.66 / 2.43),
    # Inverse: boundaries, best last, are p90 15.85, p80 10.16, p70 5.23, p60 2.02, p50 0.66, p40 0.14, p30 0,
    # p20 0, p10 0 (pK ascends whatever the direction; data/reference/qpp/README.md).
    # 5.23% = p70 -> better than p90, p80, on p70 -> decile 4, position 0 -> 4.0
    ("Q238", "ecqm", 523, 9477, 4, 4.0),
    # 0.66% = p50 -> decile 6 -> 6.0
    ("Q238", "ecqm", 66, 9934, 6, 6.0),
    # 0% = p10 (= p20 = p30) -> past every boundary -> decile 10 -> 10.0
    ("Q238", "ecqm", 0, 100, 10, 10.0),
    # 20% is worse than p90 15.85 -> decile 1; worst end p99 30.71: position (30.71 - 20) / (30.71 - 15.85)
    # = 10.71 / 14.86 = 0.720727 -> 1 + 0.9 x 0.720727 = 1.648654
    ("Q238", "ecqm", 20, 80, 1, 1 + 0.9 * 10.71 / 14.86),
]


def _project(rows):
    points = pl.DataFrame(rows)
    bench = vq.cms_deciles(load_quality_benchmarks(FILE, 2027),
                           points.select("cohort", "measure_id", "collection_type"), M, 2027)
    return vq.projected_rows(points, bench, QP), bench


@pytest.mark.parametrize("measure, collection, met, not_met, decile, expected", CASES)
def test_V1_Q5_rates_on_cms_published_boundaries(measure, collection, met, not_met, decile, expected):
    out, _ = _project([_row(measure, collection, met, not_met)])
    r = out.row(0, named=True)
    assert r["source"] == "CMS"
    assert r["decile"] == decile
    assert r["points"] == pytest.approx(expected, abs=1e-9)


def test_V1_benchmark_provenance_topped_out_and_direction():
    _, bench = _project([_row("Q005", "ecqm", 1, 1), _row("Q005", "mips_cqm", 1, 1), _row("Q238", "ecqm", 1, 1)])
    rows = {(r["measure_id"], r["collection_type"]): r for r in bench.iter_rows(named=True)}
    ecqm = rows[("Q005", "ecqm")]
    assert (ecqm["submission_method"], ecqm["cms_performance_year"], ecqm["benchmark_year"]) == (
        "electronicHealthRecord", 2026, 2024)
    assert ecqm["d1"] == 67.35 and ecqm["d9"] == 93.33 and ecqm["worst_rate"] == 50.0
    assert rows[("Q005", "mips_cqm")]["is_topped_out"] is True  # registry row is flagged topped out by CMS
    inv = rows[("Q238", "ecqm")]
    assert inv["direction"] == "lower_is_better" and inv["d1"] == 15.85 and inv["d9"] == 0.0
    assert inv["worst_rate"] == 30.71


def test_V1_placeholder_or_missing_benchmark_keeps_the_pool_points():
    # Q236 registry carries CMS's placeholder percentiles 1, 10, ..., 99: the row keeps its pool points (7.5)
    out, bench = _project([_row("Q236", "mips_cqm", 80, 20)])
    r = out.row(0, named=True)
    assert (r["source"], r["points"], r["decile"]) == ("run pool", 7.5, 7)
    assert "placeholder" in bench.row(0, named=True)["reason"]


def test_V1_Q3_Q4_zero_points_come_before_the_benchmark():
    row = _row("Q005", "ecqm", 10, 5)  # 15 cases < 20 (Q4)
    out, _ = _project([row])
    assert out.row(0, named=True)["points"] == 0.0
    assert out.row(0, named=True)["zero_reason"] == "Q4_below_case_minimum"


def test_V1_loader_takes_a_newer_cms_file_and_refuses_a_bad_one(tmp_path):
    text = (REPO_ROOT / FILE).read_text()
    newer = text + "2027,2025,005,electronicHealthRecord,False,False,singlePerformanceRate,80,40,60,70,75,78,80,82,85,88,92,99,\n"
    f = tmp_path / "benchmarks.csv"
    f.write_text(newer)
    rows = load_quality_benchmarks(str(f), 2027).filter((pl.col("measure_id") == "Q005")
                                                        & (pl.col("submission_method") == "electronicHealthRecord"))
    assert rows.row(0, named=True)["cms_performance_year"] == 2027 and rows.row(0, named=True)["p10"] == 60.0
    # a PY-2028 row is not used for PY 2027 (latest not after the run's PY)
    assert load_quality_benchmarks(str(f), 2026).filter(pl.col("measure_id") == "Q005").height == 2
    bad = tmp_path / "bad.csv"
    bad.write_text(text.replace("2026,2024,005,electronicHealthRecord,False,False,singlePerformanceRate,81.04,50,",
                                "2026,2024,005,electronicHealthRecord,False,False,singlePerformanceRate,81.04,fifty,"))
    with pytest.raises(ReferenceFileError, match=r"bad.csv: row \d+, column p1: 'fifty' is not a number"):
        load_quality_benchmarks(str(bad), 2027)
    short = tmp_path / "short.csv"
    short.write_text("performance_year,measure_id\n2026,005\n")
    with pytest.raises(ReferenceFileError, match="missing column"):
        load_quality_benchmarks(str(short), 2027)
    with pytest.raises(ReferenceFileError, match="not found"):
        load_cost_averages(str(tmp_path / "none.csv"), 2027, "individual_national_average")
