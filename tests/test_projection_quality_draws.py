"""Issue 20 (V3 speed): the bootstrap's (row x draw) Q5/Q7 scoring gives the same quality scores, to the bit,
as scoring's own frames (quality.measure_points, best_points_per_measure, participant_quality by draw), on
random participants with own and TIN-level rows in several collection types."""
from __future__ import annotations

import numpy as np
import polars as pl

from pipelines.engine.methodology import load_methodology
from pipelines.engine.projection.quality_draws import QualityDraws, kahan_sum
from pipelines.engine.scoring import quality
from pipelines.engine.scoring.params import quality_params
from pipelines.engine.tables import PARTICIPANT

M = load_methodology(2027)
QP = quality_params(M, part_a_supplied=True)
DRAWS = 7


def _world(seed: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(participants, their submitted rows classified by Q1-Q4, Q5 deciles per draw from a random pool)."""
    gen = np.random.default_rng(seed)
    people, rows = [], []
    for t in range(12):
        tin = f"{t:09d}"
        for n in range(int(gen.integers(1, 4))):
            npi = f"1{t:04d}{n:05d}"
            cohort = str(gen.choice(list(QP.required_measures)))
            people.append((2027, cohort, tin, npi))
            for measure in gen.choice(QP.required_measures[cohort], size=int(gen.integers(0, 5)), replace=False):
                for ctype in gen.choice(["ecqm", "mips_cqm", "claims"], size=int(gen.integers(1, 3)), replace=False):
                    rows.append((2027, tin, npi, str(measure), str(ctype)))
        for measure in gen.choice([m for ms in QP.required_measures.values() for m in ms], size=3, replace=False):
            rows.append((2027, tin, None, str(measure), "mips_cqm"))  # TIN-level rows (Q2)
    participants = pl.DataFrame(people, schema=["performance_year", "cohort", "tin", "npi"], orient="row").unique()
    sub = pl.DataFrame(rows, schema=["performance_year", "tin", "npi", "measure_id", "collection_type"], orient="row")
    sub = sub.with_columns(pl.Series("cases", gen.integers(5, 80, sub.height)).cast(pl.Int64),
                           pl.Series("performance_rate", gen.uniform(0, 1, sub.height)),
                           pl.Series("data_completeness", gen.uniform(0.6, 1, sub.height)))
    rows = quality.classify_rates(sub, QP).filter(pl.col("cohort").is_not_null())
    pool = rows.select(quality.BENCH_KEYS).unique().join(pl.DataFrame({"draw": np.arange(DRAWS)}), how="cross").join(
        pl.DataFrame({"_i": np.arange(15)}), how="cross")
    pool = pool.with_columns(pl.Series("performance_rate", np.round(gen.uniform(0, 1, pool.height), 2)),
                             pl.lit(True).alias("in_benchmark"), pl.lit(True).alias("in_peer_pool"),
                             pl.col("measure_id").is_in(list(QP.lower_is_better)).alias("lower_is_better"))
    deciles = quality.quality_benchmarks(quality.rate_flags(pool.with_columns(
        pl.lit(True).alias("meets_completeness"), pl.lit(True).alias("meets_case_minimum"),
        pl.lit(True).alias("measure_scored"))), QP, by=("draw",))
    return participants.sort("performance_year", "cohort", "tin", "npi"), rows, deciles.filter(
        ~((pl.col("measure_id") == "Q008") & (pl.col("draw") == 3)))  # a draw without a benchmark for a measure


def test_V3_Q7_on_the_draw_matrices_equals_scorings_quality_score_by_draw():
    for seed in range(4):
        participants, rows, deciles = _world(seed)
        gen = np.random.default_rng(100 + seed)
        rates = np.round(gen.uniform(0, 1, (rows.height, DRAWS)), int(gen.integers(2, 12)))
        grid = QualityDraws(participants, rows, QP)
        got = grid.scores(grid.points(rates, grid.draw_bounds(deciles, 0, DRAWS, "draw")))

        long = rows.join(pl.DataFrame({"draw": np.arange(DRAWS)}), how="cross").drop("performance_rate").with_columns(
            pl.Series("performance_rate", rates.ravel()))  # rows x draws, row-major like `rates`
        who = participants.join(pl.DataFrame({"draw": np.arange(DRAWS)}), how="cross")
        points = quality.measure_points(quality.rate_flags(long), deciles, QP, by=("draw",), provenance=False)
        best = quality.best_points_per_measure(who, points, QP, by=("draw",), provenance=False)
        want = quality.participant_quality(who, best, QP, by=("draw",)).sort(
            "performance_year", "cohort", "tin", "npi", "draw")["quality_score"].to_numpy().reshape(-1, DRAWS)
        assert np.array_equal(got, want), seed
        assert (want > 0).any() and len(np.unique(want)) > 10  # the worlds score something, and differently


def test_V3_kahan_sum_is_polars_float_sum():
    values = np.sort(np.random.default_rng(7).uniform(0, 10, (500, 6, 1)) * (np.arange(6) % 3 > 0)[None, :, None],
                     axis=1)
    frame = pl.DataFrame({"g": np.repeat(np.arange(500), 6), "v": values[:, :, 0].ravel()})
    polars_sum = frame.group_by("g", maintain_order=True).agg(pl.col("v").sort().sum())["v"].to_numpy()
    assert np.array_equal(kahan_sum(values)[:, 0], polars_sum)


def test_V3_drawn_pool_deciles_equal_quality_benchmarks_over_the_repeated_rows():
    from pipelines.engine.projection.draws import pool_member_draws
    from pipelines.engine.projection.quality_draws import PoolDeciles
    from pipelines.engine.projection.interval import _explode_copies, _pool_rows_by_member

    for seed in range(3):
        participants, rows, _ = _world(seed)
        rows = rows.filter(pl.col("in_benchmark")).with_columns(pl.lit(True).alias("in_peer_pool"))
        members = participants.with_row_index("_m")
        carried = _pool_rows_by_member(rows, members)
        drawn = pool_member_draws(members, 20, 2027 + seed)
        got = PoolDeciles(carried, members, QP).deciles(drawn.filter(pl.col("draw") >= 5), 5, 20)
        want = quality.quality_benchmarks(_explode_copies(carried.rename({"npi": "_row_npi"}).join(
            drawn.select("performance_year", "cohort", "tin", pl.col("npi").alias("member_npi"), "draw", "copies"),
            on=["performance_year", "cohort", "tin", "member_npi"], how="inner").rename({"_row_npi": "npi"})),
            QP, by=("draw",)).filter(pl.col("draw") >= 5)
        keys = [*quality.BENCH_KEYS, "draw"]
        assert got.height == want.height > 20
        assert got.sort(keys).equals(want.sort(keys)), seed


def test_V3_runs_with_another_decile_quantile_method(tmp_path):
    """sensitivity.toml varies quality.decile_quantile_method: the drawn pools then repeat the rows (Polars)."""
    from dataclasses import replace
    from pipelines.engine.projection import interval

    participants, rows, _ = _world(1)
    rows = rows.filter(pl.col("in_benchmark")).with_columns(pl.lit(True).alias("in_peer_pool"))
    members = participants.with_columns(pl.lit("scored").alias("status"), pl.lit(900.0).alias("measure_score"),
                                        *[pl.lit(0.0).alias(c) for c in interval.HELD], pl.lit(1000.0).alias("partb_paid"))
    qp = replace(QP, quantile_method="lower")
    b = interval.Bootstrap(participants=participants, episodes=pl.DataFrame(), members=members, quality_rows=rows,
                           cost_benchmarks=pl.DataFrame(), cms_quality=pl.DataFrame(), reference=pl.DataFrame(),
                           scaling=pl.DataFrame({"cohort": ["HF", "LBP"], "scaling_factor": [1.0, 1.0]}), qp=qp,
                           part_a_measures=())
    _, deciles, _ = interval.pool_benchmarks(b, M, rows, 4, True)
    assert deciles.height > 0 and set(deciles["draw"].unique()) == {0, 1, 2, 3}


def test_issue20_V3_pool_draws_handed_out_by_range_are_the_resamples_of_every_draw():
    """B1's drawn pools, kept as a (draw x member) matrix of copies and handed out a range of draws at a time
    (at 100 M lines the rows of all 500 draws were several GB): each draw of a cohort is n members drawn with
    replacement from its n members by its seeded stream (draws.rng(seed, "pool", cohort)), so a range's rows are
    exactly those of the whole, and each draw's copies add up to the cohort's size."""
    from pipelines.engine.projection.draws import PoolDraws, pool_member_draws, rng

    participants, _, _ = _world(2)
    members = participants.with_row_index("_m")
    whole = pool_member_draws(members, 30, 2027)
    pools = PoolDraws(members, 30, 2027)
    parts = [pools.rows(a, b) for a, b in ((0, 7), (7, 20), (20, 30))]
    assert pl.concat(parts).sort("cohort", "draw", "_m").equals(whole.sort("cohort", "draw", "_m"))
    assert parts[1]["draw"].min() == 7 and parts[1]["draw"].max() == 19
    for (cohort,), g in members.sort(PARTICIPANT).group_by("cohort", maintain_order=True):
        n = g.height
        idx = rng(2027, "pool", cohort).integers(0, n, size=(30, n))  # the stream, drawn by hand
        got = whole.filter(pl.col("cohort") == cohort)
        assert (got.group_by("draw").agg(pl.col("copies").sum())["copies"] == n).all()
        b = 11
        want = np.bincount(idx[b], minlength=n)
        at = got.filter(pl.col("draw") == b)
        j = at.join(g.with_row_index("_j").select("_m", "_j"), on="_m")
        have = np.zeros(n, np.int64)
        have[j["_j"].to_numpy()] = j["copies"].to_numpy()
        assert np.array_equal(have, want)
