"""V2 (reference distribution), V3 (bootstrap intervals over own episodes, quality rates and the peer pool; the
sign words; per-TIN intervals) and V4 (lead figure), on small hand-built inputs."""
from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from pipelines.engine.methodology import MethodologyError, load_methodology
from pipelines.engine.projection import cost as vcost, draws as vdraws, interval, quality as vquality
from pipelines.engine.qpp import load_quality_benchmarks
from pipelines.engine.projection.stage import lead
from pipelines.engine.scoring import cost
from pipelines.engine.scoring.params import quality_params
from pipelines.engine.tables import PARTICIPANT

M = load_methodology(2027)
QP = quality_params(M, part_a_supplied=True)
AVERAGES = pl.DataFrame({"cost_measure": ["COST_HF_1"], "cms_performance_year": [2025], "benchmark_year": [2025],
                         "national_average": [15000.0], "source_file": ["x.csv"]})
CMS_Q = load_quality_benchmarks(M.projection.quality_benchmarks_file, 2027)


def _methodology(tmp_path, sources: list[str], draws: int | None = None):
    cfg = tmp_path / f"v3_{'_'.join(sources) or 'none'}_{draws}.toml"
    text = "[defaults.projection]\nbootstrap_sources = [%s]\n" % ", ".join(f'"{s}"' for s in sources)
    if draws:
        text += f"bootstrap_draws = {draws}\n"
    cfg.write_text(text)
    return load_methodology(2027, cfg)


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


# ------------------------------------------------------------------------------------------ a hand-built world

KEY = {"performance_year": 2027, "cohort": "HF", "tin": "100000000", "npi": "1000000000"}
HELD = {"ia_adjustment": 0.0, "pi_adjustment": -2.0, "complex_bonus": 0.0, "small_practice_bonus": 0.0}


def _own_episodes(key: dict = KEY, n: int = 40, admitted: int = 10) -> pl.DataFrame:
    """R4/Q6 inputs: `admitted` episodes with one admission and observed cost 4,800, the rest none and 3,733.33;
    expected cost 4,000 and expected admissions 0.25 each; cohort rate 70 per 100 person-years.
    Measure score = mean observed x 4,000 / 4,000 = (10 x 4,800 + 30 x 3,733.33) / 40 = 4,000 (R4);
    Q492 = (10 admissions / 10 expected) x 70 = 70 (Q6)."""
    rows = [{**key, "episode_id": f"E{i:03d}", "open": False, "observed_cost": 4800.0 if i < admitted else 3733.0 + 1 / 3,
             "expected_cost": 4000.0, "admissions": 1.0 if i < admitted else 0.0, "expected_admissions": 0.25,
             "cohort_rate": 70.0} for i in range(n)]
    return pl.DataFrame(rows)


def _world(pool_size: int = 31, seed: int = 7, partb_paid: float | None = 250_000.0, extra: list[dict] = ()):
    """A cohort pool of `pool_size` (odd) HF members whose measure scores are symmetric around 4,000 (so the
    pool median is 4,000, the participant's own score: B3 gives it 6.0), each with a Q005 eCQM row (50 cases)
    and a Q492 row in the pool; the participant KEY is member 0, with a Q005 rate of 0.80 and Q492 = 70."""
    rng = np.random.default_rng(seed)
    half = 600 * np.abs(rng.standard_normal(pool_size // 2)) + 1
    scores = np.concatenate([[4000.0], 4000 + half, 4000 - half])
    members, rows = [], []
    for i, s in enumerate(scores):
        k = {**KEY, "tin": f"{100000000 + i}", "npi": f"{1000000000 + i}"}
        members.append({**k, "status": "scored", "measure_score": float(s), **HELD, "partb_paid": 250_000.0})
        q005 = 0.80 if i == 0 else float(rng.integers(25, 50)) / 50
        q492 = 70.0 if i == 0 else float(rng.uniform(55, 90))
        rows.append({**k, "measure_id": "Q005", "collection_type": "ecqm", "cases": 50.0, "performance_rate": q005,
                     "data_completeness": 1.0, "in_peer_pool": True})
        rows.append({**k, "measure_id": "Q492", "collection_type": "claims", "cases": 40.0, "performance_rate": q492,
                     "data_completeness": 1.0, "in_peer_pool": True})
    for e in extra:
        rows.append({**e, "in_peer_pool": False})
    members = pl.DataFrame(members)
    bench = cost.cost_benchmarks(members, M.benchmarks)
    reference = vcost.reference_distribution(
        bench.select("performance_year", "cohort", "participants", "median", "sd"), AVERAGES, ["HF"], M, 2027)
    combos = pl.DataFrame({"cohort": ["HF", "HF"], "measure_id": ["Q005", "Q492"], "collection_type": ["ecqm", "claims"]})
    participants = pl.DataFrame([{**KEY, "pool_figure": True, "measure_score": 4000.0, "cohort_mean_cost": 4000.0,
                                  **HELD, "partb_paid": partb_paid}])
    return interval.Bootstrap(
        participants=participants, episodes=_own_episodes(), members=members, quality_rows=pl.DataFrame(rows),
        cost_benchmarks=bench, cms_quality=vquality.cms_deciles(CMS_Q, combos, M, 2027), reference=reference,
        scaling=pl.DataFrame({"cohort": ["HF"], "scaling_factor": [1.2]}), qp=QP, part_a_measures=("Q492",))


def _run(world: interval.Bootstrap, m) -> tuple[pl.DataFrame, dict]:
    draws = interval.bootstrap(world, m)
    ranges = interval.with_signs(interval.summarise(draws, m.projection.interval_level))
    return draws, ranges.filter(pl.col("npi") == KEY["npi"]).row(0, named=True)


def _width(r: dict, figure: str) -> float:
    return r[f"{figure}_high"] - r[f"{figure}_low"]


FIGURES = ("measure_score", "pool_cost_points", "pool_final_score", "pool_factor", "projected_cost_points",
           "projected_final_score", "projected_factor", "pool_dollar_impact", "projected_dollar_impact")


def test_V3_no_source_resampled_gives_the_point_figure_in_every_draw(tmp_path):
    """No source on: every draw repeats the run's figures. B3: the participant's 4,000 is the pool median ->
    6.0 pool cost points; V2: 4,000 is far below T10 = 15,000 - 1.5 x 0.2 x 15,000 = 10,500 -> 10.0."""
    m = _methodology(tmp_path, [])
    draws, r = _run(_world(), m)
    for f in FIGURES:
        assert r[f"{f}_low"] == r[f"{f}_high"], f
    assert r["measure_score_low"] == 4000.0
    assert r["pool_cost_points_low"] == 6.0 and r["projected_cost_points_low"] == 10.0
    assert draws["scaling_factor"].unique().to_list() == [1.2]  # the run's S held


@pytest.mark.parametrize("source", ["own_episodes", "quality_rates", "peer_pool"])
def test_V3_each_source_alone_moves_the_interval(tmp_path, source):
    """Fix all sources but one: the final score's interval is no longer a point, and only what that source feeds
    moves (own episodes: the measure score; quality rates: quality only; peer pool: benchmarks and S)."""
    draws, r = _run(_world(), _methodology(tmp_path, [source]))
    assert _width(r, "pool_final_score") > 0 and _width(r, "pool_factor") > 0
    moved = {c: draws[c].n_unique() > 1 for c in ("measure_score", "pool_quality_score", "scaling_factor")}
    if source == "own_episodes":  # R4 and, from the same episodes, Q492 (Q6) -> quality moves too
        assert moved == {"measure_score": True, "pool_quality_score": True, "scaling_factor": False}
    elif source == "quality_rates":
        assert moved == {"measure_score": False, "pool_quality_score": True, "scaling_factor": False}
        assert _width(r, "pool_cost_points") == 0
    else:  # the drawn pool: cost benchmarks (B2/B3), deciles (Q5) and S (P3) move; the own score does not
        assert moved == {"measure_score": False, "pool_quality_score": True, "scaling_factor": True}
        assert _width(r, "pool_cost_points") > 0


def test_V3_Q6_rate_moves_with_the_same_episode_resample():
    """Q6 from the resampled episodes: with 10 of 40 episodes admitted (observed 4,800, the others 3,733.33),
    a draw holding a admitted episodes has measure score = (a x 4,800 + (40 - a) x 3,733.33) / 40
    = 3,733.33 + 26.667 a, and Q492 = a / (40 x 0.25) x 70 = 7 a: the same a for both, so
    Q492 = 7 x (measure score - 3,733.33) / 26.667 in every draw."""
    parts = pl.DataFrame([{**KEY, "measure_score": 4000.0, "cohort_mean_cost": 4000.0}])
    own = vdraws.own_episode_draws(parts, _own_episodes(), 500, 2027, True)
    score, rate = own["pool_measure_score"].to_numpy(), own["pool_q6_rate"].to_numpy()
    admitted = (score - (3733.0 + 1 / 3)) / ((4800.0 - 3733.0 - 1 / 3) / 40)
    assert np.allclose(admitted, np.round(admitted), atol=1e-6)  # a whole number of admitted episodes
    assert np.allclose(rate, 7.0 * np.round(admitted))
    assert rate.std() > 0 and abs(rate.mean() - 70.0) < 6  # a ~ Binomial(40, 0.25): mean 10 -> 70
    # no open episode: the projected figure resamples the same rows
    assert own["projected_q6_rate"].equals(own["pool_q6_rate"], check_names=False)
    # not resampled: the run's score, and no Q6 rate (the Q492 row keeps its rate)
    held = vdraws.own_episode_draws(parts, _own_episodes(), 20, 2027, False)
    assert held["pool_measure_score"].unique().to_list() == [4000.0] and held["pool_q6_rate"].null_count() == 20


def test_V3_open_episodes_feed_the_projected_figure_only():
    """E5/V5: the pool figure resamples closed episodes only, the projected figure closed and open ones."""
    eps = _own_episodes().with_columns((pl.col("episode_id") >= "E030").alias("open"),
                                       pl.when(pl.col("episode_id") >= "E030").then(9000.0)
                                       .otherwise(pl.col("observed_cost")).alias("observed_cost"))
    parts = pl.DataFrame([{**KEY, "measure_score": 4000.0, "cohort_mean_cost": 4000.0}])
    own = vdraws.own_episode_draws(parts, eps, 200, 2027, True)
    assert own["pool_measure_score"].max() < 4800  # closed episodes cost at most 4,800
    assert own["projected_measure_score"].mean() > own["pool_measure_score"].mean() + 1000


def test_V3_quality_rates_are_binomial_on_the_rows_case_count():
    """Q2 on a resampled count: met_b ~ Binomial(50, 0.8) -> rate_b in steps of 1/50, mean 0.8; the row's key
    seeds it, so a TIN-level row draws the same rates whoever it is drawn for."""
    rows = pl.DataFrame([{**KEY, "measure_id": "Q005", "collection_type": "ecqm", "cases": 50.0,
                          "performance_rate": 0.8, "data_completeness": 1.0}])
    out = vdraws.quality_rate_draws(rows, 500, 2027, True)["performance_rate"].to_numpy()
    assert np.allclose(out * 50, np.round(out * 50)) and abs(out.mean() - 0.8) < 0.02 and out.std() > 0.03
    again = vdraws.quality_rate_draws(pl.concat([rows.with_columns(pl.lit("1999999999").alias("npi")), rows]), 500,
                                      2027, True).filter(pl.col("npi") == KEY["npi"])["performance_rate"].to_numpy()
    assert np.array_equal(out, again)
    held = vdraws.quality_rate_draws(rows, 30, 2027, False)["performance_rate"].unique().to_list()
    assert held == [0.8]


def test_V3_a_participants_draws_do_not_depend_on_who_else_is_projected(tmp_path):
    m = _methodology(tmp_path, ["own_episodes", "quality_rates", "peer_pool"], draws=60)
    world = _world()
    other = {**KEY, "tin": "100000003", "npi": "1000000003"}
    both = interval.Bootstrap(**{**world.__dict__,
                                 "participants": pl.concat([world.participants, world.participants.with_columns(
                                     pl.lit(other["tin"]).alias("tin"), pl.lit(other["npi"]).alias("npi"))]),
                                 "episodes": pl.concat([world.episodes, _own_episodes(other)])})
    alone = interval.bootstrap(world, m)
    together = interval.bootstrap(both, m).filter(pl.col("npi") == KEY["npi"])
    assert alone.equals(together.select(alone.columns))


def test_V3_interval_narrows_as_the_pool_grows(tmp_path):
    m = _methodology(tmp_path, ["peer_pool"], draws=200)
    _, small = _run(_world(9), m)
    _, large = _run(_world(301), m)
    # the pool-based cost points depend on the pool's median and SD: a pool of 301 pins them
    assert _width(large, "pool_cost_points") < _width(small, "pool_cost_points")
    assert _width(large, "pool_final_score") < _width(small, "pool_final_score")


def test_V3_seeded_same_inputs_same_interval_and_ordered(tmp_path):
    m = _methodology(tmp_path, ["own_episodes", "quality_rates", "peer_pool"], draws=100)
    (_, a), (_, b) = _run(_world(), m), _run(_world(), m)
    assert a == b
    for f in FIGURES:
        assert a[f"{f}_low"] <= a[f"{f}_high"]
    r = M.payment.risk_level
    assert -r <= a["projected_factor_low"] and a["projected_factor_high"] <= r  # P3 clip


def test_P3_projection_prices_with_scorings_factor_no_factor_without_part_b_paid(tmp_path):
    """P3 (one home: scoring.payment.adjustment_factor_expr): a participant with a final score > 0 but no
    Part B paid in the PY (B <= 0 or none) gets no adjustment factor, in every bootstrap draw too; with
    B > 0 the projected factor stays inside [-r, +r]."""
    m = _methodology(tmp_path, ["own_episodes", "quality_rates", "peer_pool"], draws=60)
    r = M.payment.risk_level
    _, paid = _run(_world(), m)
    assert paid["pool_factor_low"] is not None and -r <= paid["pool_factor_low"] <= paid["pool_factor_high"] <= r
    for no_paid in (0.0, -50.0, None):
        _, unpaid = _run(_world(partb_paid=no_paid), m)
        assert unpaid["pool_final_score_low"] == paid["pool_final_score_low"]  # the score itself is unchanged
        assert unpaid["pool_factor_low"] is None and unpaid["projected_factor_high"] is None
        assert unpaid["pool_sign"] is None


def test_V3_sign_words_from_the_interval():
    frame = pl.DataFrame({"low": [0.01, -0.05, -0.01, 0.0, None], "high": [0.05, -0.01, 0.02, 0.03, None]})
    words = frame.select(interval.sign_expr("low", "high").alias("sign"))["sign"].to_list()
    assert words == ["gains", "loses", "not yet known", "not yet known", None]


def test_V3_S6_loses_without_spread():
    """S6: final score 0, factor -r (0.09) -> dollars -0.09 x 100,000 = -9,000 at both ends; sign 'loses'."""
    point = pl.DataFrame([{**KEY, "pool_final_score": 0.0, "pool_factor": -0.09, "pool_dollar_impact": -9000.0,
                           "projected_final_score": 0.0, "projected_factor": -0.09,
                           "projected_dollar_impact": -9000.0}])
    r = interval.with_signs(interval.fixed_intervals(point)).row(0, named=True)
    assert r["pool_dollar_impact_low"] == r["pool_dollar_impact_high"] == -9000.0
    assert r["pool_sign"] == r["projected_sign"] == "loses"


def test_V3_tin_interval_sums_the_practices_dollars_draw_by_draw():
    """Per TIN: dollars_b summed over its participants in each draw b, plus a participant without draws at its
    point (S6: -9,000 every draw). Two participants with draws b = 0..4: A = 100, 200, 300, 400, 500 and
    B = -50, -50, -50, -50, 1,000 -> sums 50, 150, 250, 350, 1,500; with S6's -9,000: -8,950 ... -7,500.
    80% interval (linear quantiles 0.1 and 0.9 of 5 values: positions 0.4 and 3.6):
    low = -8,950 + 0.4 x 100 = -8,910; high = -8,650 + 0.6 x 1,150 = -7,960; both < 0 -> 'loses'."""
    a = {**KEY, "npi": "1000000001"}
    b_ = {**KEY, "npi": "1000000002"}
    s6 = {**KEY, "npi": "1000000003"}
    draws = pl.DataFrame([{**k, "draw": d, "pool_dollar_impact": v, "projected_dollar_impact": v}
                          for k, vals in ((a, [100, 200, 300, 400, 500]), (b_, [-50, -50, -50, -50, 1000]))
                          for d, v in enumerate(map(float, vals))])
    points = pl.DataFrame([{**k, "pool_dollar_impact": v, "projected_dollar_impact": v}
                           for k, v in ((a, 300.0), (b_, -50.0), (s6, -9000.0))])
    r = interval.tin_intervals(draws, points, 0.8).row(0, named=True)
    assert r["pool_dollar_impact_low"] == pytest.approx(-8910.0)
    assert r["pool_dollar_impact_high"] == pytest.approx(-7960.0)
    assert r["pool_sign"] == r["projected_sign"] == "loses"
    # without the S6 participant: 50 + 0.4 x 100 = 90 > 0 -> gains
    r = interval.tin_intervals(draws, points.filter(pl.col("npi") != s6["npi"]), 0.8).row(0, named=True)
    assert r["pool_dollar_impact_low"] == pytest.approx(90.0) and r["pool_sign"] == "gains"


def test_V3_tin_participants_share_the_pool_draw(tmp_path):
    """Two participants of one cohort: draw b is the same drawn pool for both (same S_b), their own draws differ."""
    m = _methodology(tmp_path, ["own_episodes", "peer_pool"], draws=40)
    world = _world()
    other = {**KEY, "npi": "1000000009"}
    both = interval.Bootstrap(**{**world.__dict__,
                                 "participants": pl.concat([world.participants, world.participants.with_columns(
                                     pl.lit(other["npi"]).alias("npi"))]),
                                 "episodes": pl.concat([world.episodes, _own_episodes(other)])})
    out = interval.bootstrap(both, m)
    s = out.pivot(on="npi", index="draw", values="scaling_factor")
    assert s[KEY["npi"]].equals(s[other["npi"]], check_names=False)
    ms = out.pivot(on="npi", index="draw", values="measure_score")
    assert not ms[KEY["npi"]].equals(ms[other["npi"]], check_names=False)


def test_V3_bootstrap_sources_setting_is_checked(tmp_path):
    assert M.projection.bootstrap_sources == ["own_episodes", "quality_rates", "peer_pool"]  # DEFAULT: all three
    bad = tmp_path / "bad.toml"
    bad.write_text('[defaults.projection]\nbootstrap_sources = ["own_episodes", "weather"]\n')
    with pytest.raises(MethodologyError, match="projection.bootstrap_sources"):
        load_methodology(2027, bad)


def test_V4_lead_is_the_pool_when_it_meets_the_small_pool_limit():
    frame = pl.DataFrame({"peer_pool_size": [29, 30]})
    out = lead(frame, M)
    assert out["lead"].to_list() == ["projected", "pool"]
    assert "29 < 30" in out["lead_reason"][0]


def test_issue20_draw_chunks_are_put_in_participant_draw_order_without_a_sort_of_the_whole_frame():
    """Issue 20: the bootstrap's rows come out in (participant, draw) order, built by computed positions from the
    sorted draw chunks (a sort of the whole frame by the participant keys was the 10M run's peak RSS): the same
    frame as concatenating the chunks and sorting, for chunks of unequal size; a chunk without one row per
    participant and draw falls back to the sort."""
    rng = np.random.default_rng(20)
    who = pl.DataFrame({"performance_year": [2027] * 7, "cohort": ["HF", "HF", "HF", "COPD", "COPD", "LBP", "LBP"],
                        "tin": ["2", "1", "1", "3", "1", "2", "9"], "npi": ["a", "b", "a", "c", "a", "d", None]})
    who = who.sort(interval.PARTICIPANT)
    sizes = [(0, 3), (3, 6), (6, 8)]
    parts = []
    for first, stop in sizes:
        k = stop - first
        chunk = who[np.repeat(np.arange(who.height), k)].with_columns(
            pl.Series(interval.DRAW, np.tile(np.arange(first, stop), who.height)),
            pl.Series("value", rng.normal(size=who.height * k)))
        parts.append(chunk.sample(fraction=1.0, shuffle=True, seed=first).sort([*interval.PARTICIPANT, interval.DRAW]))
    expected = pl.concat(parts).sort([*interval.PARTICIPANT, interval.DRAW])
    got = interval.participant_major(list(parts), who.height, [b - a for a, b in sizes])
    assert got.equals(expected)
    assert got[interval.DRAW].head(8).to_list() == list(range(8))  # the first participant's draws, all chunks
    short = [parts[0], parts[1].head(10), parts[2]]
    assert interval.participant_major(list(short), who.height, [3, 3, 2]).equals(
        pl.concat(short).sort([*interval.PARTICIPANT, interval.DRAW]))


def test_issue20_V3_intervals_from_the_draw_chunks_equal_those_of_the_whole_frame(tmp_path):
    """V3 at 100 M lines: the whole (participant x draw) frame passed 20 GB, so `bootstrap_intervals` sums each
    chunk of draws per TIN as it is scored and keeps only the summary figures as matrices. Its intervals must be
    the very bits of `summarise` and `tin_intervals` over `bootstrap`'s whole frame: three participants (one
    without a pool figure: its pool_* intervals are null), 120 draws in three chunks of 50, 50 and 20."""
    m = _methodology(tmp_path, ["own_episodes", "quality_rates", "peer_pool"], draws=120)
    world = _world()
    others = [{**KEY, "npi": "1000000009"}, {**KEY, "npi": "1000000010"}]
    extra = world.participants.with_columns(pl.lit(others[0]["npi"]).alias("npi"))
    no_pool = world.participants.with_columns(pl.lit(others[1]["npi"]).alias("npi"), pl.lit(False).alias("pool_figure"))
    three = interval.Bootstrap(**{**world.__dict__, "participants": pl.concat([world.participants, extra, no_pool]),
                                  "episodes": pl.concat([world.episodes, *[_own_episodes(o) for o in others]])})
    points = three.participants.select(*PARTICIPANT).with_columns(
        pl.Series("pool_dollar_impact", [300.0, -50.0, None]), pl.Series("projected_dollar_impact", [1.0, 2.0, 3.0]))
    s6 = pl.DataFrame([{**KEY, "npi": "1000000011", "pool_dollar_impact": -9000.0, "projected_dollar_impact": -9000.0}])
    points = pl.concat([points, s6], how="vertical_relaxed")

    ranges, tins = interval.bootstrap_intervals(three, m, points)
    whole = interval.bootstrap(three, m)
    assert interval.draw_chunks(120) == [(0, 50), (50, 100), (100, 120)]
    level = m.projection.interval_level
    expected = interval.summarise(whole, level).sort(PARTICIPANT)
    assert ranges.sort(PARTICIPANT).equals(expected)  # bit for bit, nulls included
    assert ranges.filter(pl.col("npi") == others[1]["npi"])["pool_factor_low"].is_null().all()
    assert ranges["projected_factor_high"].is_not_null().all()
    assert tins.sort(interval.TIN_KEYS).equals(interval.tin_intervals(whole, points, level).sort(interval.TIN_KEYS))


def test_issue20_row_quantiles_are_polars_linear_quantiles_and_skip_null_draws():
    rng = np.random.default_rng(3)
    values = rng.normal(size=(40, 23)) * 1e4
    values[5, :] = np.nan  # a participant without the figure: null
    values[7, ::3] = np.nan  # some null draws
    frame = pl.DataFrame({"p": np.repeat(np.arange(40), 23), "v": values.ravel()}, nan_to_null=True)
    for q in (0.09999999999999998, 0.5, 0.9):
        want = frame.group_by("p").agg(pl.col("v").quantile(q, interpolation="linear")).sort("p")["v"]
        got = pl.Series("v", interval.row_quantiles(values, q), nan_to_null=True)
        assert got.equals(want), q


def test_issue20_V2_pool_mean_does_not_depend_on_the_order_of_the_scores():
    """V2's median/mean ratio reads the B1 pool's mean measure score. A float sum depends on its order, and the
    order in which a group's rows reached it varied between runs, so the last bits of every projected cost figure
    moved from run to run (seen at 10 M). Summed in ascending order, any order of the rows gives the same bits."""
    rng = np.random.default_rng(11)
    scores = pl.DataFrame({"performance_year": [2027] * 20_000, "cohort": ["HF", "LBP"] * 10_000,
                           "measure_score": rng.lognormal(8, 1.5, 20_000), "cost_points": [5.0] * 20_000})
    want = vcost.pool_median_mean(scores).sort("cohort")
    for seed in range(5):
        shuffled = scores.sample(fraction=1.0, shuffle=True, seed=seed)
        assert vcost.pool_median_mean(shuffled).sort("cohort").equals(want)


def test_issue20_V3_participants_drawn_a_block_at_a_time_give_the_same_intervals(tmp_path):
    """V3 at 100 M lines: 184,749 participants' draws do not fit in 16 GB at once, so `bootstrap_intervals` draws
    them a block at a time. A participant's draws depend only on its own key, rows and episodes and on the drawn
    pools (seeded per key, draws.py), and a practice's participants stay in one block (its dollars per draw are
    summed over all of them), so any block size gives the bits of the whole frame. Four participants in three
    practices (KEY's, member 1's with two clinicians, member 2's), blocks of one: [KEY], [member 1's two], [member 2]."""
    m = _methodology(tmp_path, ["own_episodes", "quality_rates", "peer_pool"], draws=60)
    world = _world()
    keys = [KEY, {**KEY, "tin": "100000001", "npi": "1000000001"}, {**KEY, "tin": "100000001", "npi": "1000000099"},
            {**KEY, "tin": "100000002", "npi": "1000000002"}]
    who = pl.concat([world.participants.with_columns(pl.lit(k["tin"]).alias("tin"), pl.lit(k["npi"]).alias("npi"))
                     for k in keys])
    four = interval.Bootstrap(**{**world.__dict__, "participants": who,
                                 "episodes": pl.concat([_own_episodes(k, n=30 + i) for i, k in enumerate(keys)])})
    points = who.select(*PARTICIPANT).with_columns(pl.Series("pool_dollar_impact", [300.0, -50.0, 10.0, 5.0]),
                                                   pl.Series("projected_dollar_impact", [1.0, 2.0, 3.0, 4.0]))
    blocks = interval.participant_blocks(who.sort(PARTICIPANT), 1)
    assert [b["npi"].to_list() for b in blocks] == [[KEY["npi"]], ["1000000001", "1000000099"], ["1000000002"]]

    ranges, tins = interval.bootstrap_intervals(four, m, points, block=1)
    whole = interval.bootstrap(four, m)
    level = m.projection.interval_level
    assert ranges.sort(PARTICIPANT).equals(interval.summarise(whole, level).sort(PARTICIPANT))
    assert tins.sort(interval.TIN_KEYS).equals(interval.tin_intervals(whole, points, level).sort(interval.TIN_KEYS))
    assert tins.height == 3 and ranges["measure_score_low"].n_unique() > 1  # their own draws differ
