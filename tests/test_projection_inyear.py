"""V5 (in-year projection of open episodes) on small hand-built episodes, and V5's S4 for a participant
outside the pool. Every expected figure is worked out by hand in the comments."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from pipelines.engine.methodology import load_methodology
from pipelines.engine.projection import inyear
from pipelines.engine.projection.stage import projected_status_expr
from pipelines.engine.scoring import final

M = load_methodology(2027)
D = dt.date
KEY = {"performance_year": 2027, "cohort": "HF", "tin": "123456789"}


def _episode(eid: str, start: dt.date, last: dt.date) -> dict:
    end = start + dt.timedelta(days=364)  # E3
    return {"episode_id": eid, "cohort": "HF", "start_date": start, "end_date": end, "performance_year": end.year,
            "status": "open" if end > last else "closed", "excluded": False, "quarantined": False}


def test_V5_open_episode_closing_inside_the_PY_counts_as_expected_one_closing_after_does_not():
    last = D(2027, 6, 30)  # the data's last service date (E5)
    eps = pl.DataFrame([
        _episode("HF-a", D(2026, 9, 1), last),   # end 2027-08-31: open, closes inside PY 2027 -> expected
        _episode("HF-b", D(2027, 2, 1), last),   # end 2028-01-31: open, PY 2028 -> not expected for 2027
        _episode("HF-c", D(2026, 3, 1), last),   # end 2027-02-28: closed (E5), counted by R5, not expected
        {**_episode("HF-d", D(2026, 10, 1), last), "excluded": True},  # open, PY 2027 but X1-excluded -> no
    ])
    assert eps.filter(pl.col("episode_id") == "HF-a")["status"].item() == "open"
    assert inyear.expected_to_close(eps, 2027)["episode_id"].to_list() == ["HF-a"]
    assert inyear.expected_to_close(eps, 2028)["episode_id"].to_list() == ["HF-b"]


def _attributed(npi: str, ids: list[str]) -> pl.DataFrame:
    return pl.DataFrame([{**KEY, "npi": npi, "episode_id": e} for e in ids])


def test_V5_closed_plus_expected_on_track_at_the_case_minimum():
    # case minimum 20 (R5). P1: 12 closed + 9 expected = 21 -> on track ("12 closed, 9 open: on track for 21").
    # P2: 12 closed + 7 expected = 19 -> not on track. P3: 20 closed -> enough closed episodes (scored on R5).
    # P4: no episodes at all -> 0 and 0, not on track.
    closed = pl.concat([_attributed("1", [f"c1-{i}" for i in range(12)]), _attributed("2", [f"c2-{i}" for i in range(12)]),
                        _attributed("3", [f"c3-{i}" for i in range(20)])])
    opened = pl.concat([_attributed("1", [f"o1-{i}" for i in range(9)]), _attributed("2", [f"o2-{i}" for i in range(7)]),
                        _attributed("3", [f"o3-{i}" for i in range(5)])])
    who = pl.DataFrame([{**KEY, "npi": n} for n in ("1", "2", "3", "4")])
    got = {r["npi"]: r for r in inyear.participant_counts(closed, opened, who, 20).iter_rows(named=True)}
    assert (got["1"]["closed_episodes"], got["1"]["expected_episodes"], got["1"]["case_status"]) == (12, 9, inyear.ON_TRACK)
    assert got["1"]["case_status_words"] == "12 closed, 9 open: on track for 21"
    assert got["2"]["case_status"] == inyear.NOT_ON_TRACK and got["2"]["projected_episodes"] == 19
    assert got["3"]["case_status"] == inyear.CLOSED_ENOUGH
    assert (got["4"]["closed_episodes"], got["4"]["expected_episodes"], got["4"]["case_status"]) == (0, 0, inyear.NOT_ON_TRACK)


def _lines(rows: list[tuple[str, int, float]]) -> pl.LazyFrame:
    return pl.DataFrame(rows, schema={"episode_id": pl.Utf8, "episode_day": pl.Int32, "cost_amount": pl.Float64},
                        orient="row").lazy()


def _with(tmp_path, text: str):
    cfg = tmp_path / "override.toml"
    cfg.write_text("[defaults.projection]\n" + text + "\n")
    return load_methodology(2027, cfg)


def test_V5_cost_curve_and_projected_cost_of_an_open_episode(tmp_path):
    # Two closed HF episodes: E1 costs 100 on day 0 and 300 on day 200; E2 costs 100 on day 100 and 500 on day
    # 364. Whole cost 1,000. Cumulative share: day 0 = 100/1000 = 0.10; day 99 = 0.10; day 100 = 0.20;
    # day 199 = 0.20; day 200 = 0.50; day 363 = 0.50; day 364 = 1.00.
    closed = pl.DataFrame({"episode_id": ["E1", "E2"], "cohort": ["HF", "HF"]})
    curve = inyear.cost_curve(_lines([("E1", 0, 100.0), ("E1", 200, 300.0), ("E2", 100, 100.0), ("E2", 364, 500.0),
                                      ("X9", 10, 999.0)]), closed)  # X9 is not a closed episode: ignored
    share = dict(zip(curve["episode_day"], curve["cumulative_share"]))
    assert curve.height == 365 and curve["closed_episodes"].unique().to_list() == [2]
    assert (share[0], share[99], share[100], share[200], share[363], share[364]) == pytest.approx(
        (0.10, 0.10, 0.20, 0.50, 0.50, 1.00))
    # Open episodes seen until 2027-06-30 (last service date):
    #   O1 starts 2026-12-12: day 200 (2027-06-30 - 2026-12-12 = 200 days); cost to date 400 -> 400 / 0.50 = 800
    #   O2 starts 2027-06-20: day 10, share 0.10 >= min share 0.10 (DEFAULT) -> 50 / 0.10 = 500
    #   O3 with a cap: starts 2026-12-12, cost to date 1,000 -> 2,000, winsorized at its cap 1,500 (C4)
    #   with min share 0.15 instead, O2 is too early (day 10: 0.10 < 0.15) -> the closed episodes' mean, 700
    last = D(2027, 6, 30)
    opened = pl.DataFrame({"episode_id": ["O1", "O2", "O3"], "cohort": ["HF"] * 3, "performance_year": [2027] * 3,
                           "start_date": [D(2026, 12, 12), D(2027, 6, 20), D(2026, 12, 12)],
                           "end_date": [D(2027, 12, 11), D(2028, 6, 18), D(2027, 12, 11)],
                           "cost_to_date": [400.0, 50.0, 1000.0], "winsor_cap": [1500.0, 1500.0, 1500.0],
                           "expected_cost": [900.0, 900.0, 900.0]})
    mean = pl.DataFrame({"cohort": ["HF"], "closed_mean_cost": [700.0]})
    got = {r["episode_id"]: r for r in inyear.open_episode_costs(opened, curve, mean, last, M).iter_rows(named=True)}
    assert got["O1"]["episode_day"] == 200 and got["O1"]["projected_cost"] == pytest.approx(800.0)
    assert got["O2"]["projected_cost"] == pytest.approx(500.0) and got["O2"]["projection_method"] == inyear.CURVE
    assert got["O3"]["projected_cost"] == pytest.approx(2000.0) and got["O3"]["projected_cost_winsorized"] == 1500.0
    m15 = _with(tmp_path, "open_episode_min_share = 0.15")
    early = {r["episode_id"]: r for r in inyear.open_episode_costs(opened, curve, mean, last, m15).iter_rows(named=True)}
    assert early["O2"]["projected_cost"] == 700.0 and early["O2"]["projection_method"] == inyear.COHORT_MEAN
    assert early["O1"]["projected_cost"] == pytest.approx(800.0)


def test_V5_R4_over_closed_plus_projected_open_episodes():
    # closed: observed 1,000 + 3,000, expected 2,000 + 2,000; open (projected): observed 800, expected 1,200.
    # R4 = (4,800 / 5,200) x cohort mean 5,000 = 4,615.38...; closed only would be 4,000/4,000 x 5,000 = 5,000
    k = {**KEY, "npi": "1"}
    closed = pl.DataFrame([{**k, "observed_cost": 1000.0, "expected_cost": 2000.0},
                           {**k, "observed_cost": 3000.0, "expected_cost": 2000.0}])
    opened = pl.DataFrame([{**k, "observed_cost": 800.0, "expected_cost": 1200.0}])
    mean = pl.DataFrame({"performance_year": [2027], "cohort": ["HF"], "cohort_mean_cost": [5000.0]})
    got = inyear.projected_measure_scores(closed, opened, mean)["inyear_measure_score"].item()
    assert got == pytest.approx(4800 / 5200 * 5000)


def test_V5_partb_paid_scaled_to_the_whole_PY_in_year_only(tmp_path):
    # data to 2027-06-30: 181 days of 365 covered -> x 365/181; at year end x 1
    assert inyear.partb_paid_scale(D(2027, 6, 30), 2027, M) == pytest.approx(365 / 181)
    assert inyear.partb_paid_scale(D(2027, 12, 31), 2027, M) == 1.0
    off = _with(tmp_path, "annualize_partb_paid = false")
    assert inyear.partb_paid_scale(D(2027, 6, 30), 2027, off) == 1.0


def test_V5_on_track_projected_as_scored_or_at_S6_zero():
    frame = pl.DataFrame({"status": ["below_case_minimum", "below_case_minimum", "below_case_minimum", "scored"],
                          "case_status": [inyear.ON_TRACK, inyear.ON_TRACK, inyear.NOT_ON_TRACK, inyear.CLOSED_ENOUGH],
                          "minimum_submission_met": [True, False, True, True]})
    assert frame.select(projected_status_expr().alias("s"))["s"].to_list() == [
        "scored", "failed_minimum_submission", "below_case_minimum", "scored"]


def test_V5_S4_complex_bonus_of_a_participant_outside_the_pool():
    # pool risk scores 1.0, 1.2, 1.4, 1.6 (median 1.3), dual shares all 0 (median 0). An outsider with risk 1.5:
    # above the median; pool values <= 1.5: 3 of 4 -> percentile 0.75 -> bonus min(10, 20 x 0.25) = 5.0.
    # An outsider with risk 1.1 and dual 0: above no median -> 0.
    pool = pl.DataFrame([{**KEY, "npi": str(i), "mean_risk_score": r, "dual_share": 0.0}
                         for i, r in enumerate((1.0, 1.2, 1.4, 1.6))])
    rows = pl.DataFrame([{**KEY, "npi": "a", "mean_risk_score": 1.5, "dual_share": 0.0},
                         {**KEY, "npi": "b", "mean_risk_score": 1.1, "dual_share": 0.0}])
    got = dict(final.complex_bonus_against_pool(rows, pool, M.scoring).select("npi", "complex_bonus").iter_rows())
    assert got == {"a": pytest.approx(5.0), "b": 0.0}
    # a pool member gets the same bonus either way: risk 1.6, 4 of 4 at or below -> min(10, 20 x 0.5) = 10
    inside = final.complex_patient_bonus(pool, M.scoring).filter(pl.col("npi") == "3")["complex_bonus"].item()
    against = final.complex_bonus_against_pool(pool.filter(pl.col("npi") == "3"), pool, M.scoring)["complex_bonus"].item()
    assert inside == pytest.approx(against) == pytest.approx(10.0)


def test_V5_Q492_cases_count_the_open_episodes_expected_to_close():
    # Q492 row of a participant with 12 closed HF episodes (cases 12 < Q4's 20) and 9 expected -> 21 cases for the
    # projected figure; a submitted measure (Q005) and a TIN-level row keep their cases; no expected -> unchanged
    rows = pl.DataFrame([
        {**KEY, "npi": "1", "measure_id": "Q492", "collection_type": "claims", "cases": 12.0},
        {**KEY, "npi": "1", "measure_id": "Q005", "collection_type": "ecqm", "cases": 12.0},
        {**KEY, "npi": None, "measure_id": "Q492", "collection_type": "claims", "cases": 5.0},
        {**KEY, "npi": "2", "measure_id": "Q492", "collection_type": "claims", "cases": 30.0}])
    counts = pl.DataFrame([{**KEY, "npi": "1", "expected_episodes": 9}, {**KEY, "npi": "2", "expected_episodes": 0}])
    got = inyear.with_expected_cases(rows, counts, ("Q492",))["cases"].to_list()
    assert got == [21.0, 12.0, 5.0, 30.0]


def test_V5_P3_scaling_solved_over_the_projected_participants_when_the_run_has_none():
    # HF has the run's S = 1.4 (kept). LBP has none yet (no one scored in the run): two participants projected as
    # scored, final score 50 each (T = 0.5), Part B 100 each: S = 0.85 x 200 / (0.5 x 100 + 0.5 x 100) = 1.7, and
    # their factor r x 0.5 x 1.7 - r = -0.15 r is inside [-r, r], so no clipping re-solve (P3). A participant
    # projected below the case minimum does not enter.
    from pipelines.engine.projection.stage import SCALING_PROJECTED, SCALING_RUN, projected_scaling
    run = pl.DataFrame({"cohort": ["HF", "LBP"], "scaling_factor": [1.4, None]})
    frame = pl.DataFrame({"cohort": ["LBP", "LBP", "LBP", "HF"],
                          "projected_status": ["scored", "scored", "below_case_minimum", "scored"],
                          "projected_final_score": [50.0, 50.0, 80.0, 10.0],
                          "projected_partb_paid": [100.0, 100.0, 100.0, 100.0]})
    got = {r["cohort"]: r for r in projected_scaling(run, frame, M).iter_rows(named=True)}
    assert got["HF"]["scaling_factor"] == 1.4 and got["HF"]["scaling_source"] == SCALING_RUN
    assert got["LBP"]["scaling_factor"] == pytest.approx(1.7) and got["LBP"]["scaling_source"] == SCALING_PROJECTED
