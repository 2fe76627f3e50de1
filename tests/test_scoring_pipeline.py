"""End to end on generated demo data: `asm run` writes every scoring table (G, R, B, Q, S, P), the P3
budget identity holds per cohort, --tin restricts participant rows but not benchmarks, and no
participant-level table carries beneficiary ids."""
from __future__ import annotations

import polars as pl
import pytest

from pipelines.generate import generate
from pipelines.runner import run_pipeline
from pipelines.settings import RunSettings

TABLES = ("eligibility", "episode_risk", "cost_measure_scores", "cost_benchmarks", "quality_benchmarks",
          "quality_measure_points", "quality_submission_issues", "participant_scores", "payment_adjustments")


@pytest.mark.slow
def test_scoring_end_to_end_on_demo_data(tmp_path):
    generate(tmp_path / "in", scale="small", seed=3)
    full = RunSettings(input_dir=tmp_path / "in", out_dir=tmp_path / "out", threads=1, quiet=True)
    outcome = run_pipeline(full)
    assert outcome.success, outcome.reason
    wh = {t: pl.read_parquet(full.warehouse.published_path(t)) for t in TABLES}
    assert all(wh[t].height > 0 for t in TABLES)
    scores = wh["participant_scores"]
    assert {"scored", "below_case_minimum"} <= set(scores["status"])
    s = scores.filter(pl.col("status") == "scored")
    assert s["final_score"].is_between(0, 100).all() and s["cost_points"].is_between(1, 10).all()
    # P3 budget identity, recomputed from the table on the factors actually paid (after clipping):
    # sum factor x B over the pool = -15% x r x sum B
    pool = wh["payment_adjustments"].filter(pl.col("in_payment_pool"))
    check = pool.group_by("cohort").agg(
        ((pl.col("adjustment_factor") + 0.15 * pl.col("risk_level")) * pl.col("partb_paid")).sum().alias("d"))
    assert check["d"].abs().max() < 1e-6
    for t in ("eligibility", "cost_measure_scores", "participant_scores", "payment_adjustments",
              "quality_measure_points", "quality_submission_issues"):
        assert "bene_id" not in wh[t].columns

    tin = s["tin"][0]
    one = RunSettings(input_dir=tmp_path / "in", out_dir=tmp_path / "out_tin", threads=1, quiet=True, tins=(tin,))
    assert run_pipeline(one).success
    assert set(pl.read_parquet(one.warehouse.published_path("participant_scores"))["tin"]) == {tin}
    # benchmarks use every TIN (equal up to float summation order)
    from polars.testing import assert_frame_equal
    assert_frame_equal(pl.read_parquet(one.warehouse.published_path("cost_benchmarks")), wh["cost_benchmarks"], rel_tol=1e-9)
