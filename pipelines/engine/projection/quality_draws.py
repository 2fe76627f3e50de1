"""V3's quality scores over many draws, as (row x draw) matrices.

In every draw the bootstrap scores the same quality rows for the same participants (or, re-scoring a drawn pool
for P3, the same pool members): only the rates (quality_rates; Q6 from own_episodes) and the deciles (peer_pool)
move. So the rows each scorer counts are found once (Q7: its own rows and its practice's TIN-level rows, every
collection type), and a range of draws is scored with numpy instead of joins and group-bys per draw:
  points       Q3-Q5 by `quality.points_on_boundaries` on the rows given their draw's boundaries (V1: CMS's,
               the rate in CMS units by `vquality.cms_rate_expr`; rows without a CMS benchmark keep the pool's)
  best         Q7: the highest points of a scorer's rows per measure (`best_points_per_measure`)
  score        Q7: the best points of the cohort's scored measures summed in ascending order with Kahan's
               compensation, the additions Polars makes in `participant_quality`'s sum (the same floating-point
               result; tests/test_projection_quality_draws.py holds the two equal), / (10 x measures)
"""
from __future__ import annotations

import numpy as np
import polars as pl

from pipelines.engine.projection import quality as vquality
from pipelines.engine.projection.draws import DRAW
from pipelines.engine.scoring import quality
from pipelines.engine.scoring.params import QualityRules
from pipelines.engine.tables import PARTICIPANT

BOUNDS = ["worst_rate", *quality.DECILES]  # Q5's boundaries of a benchmark, in this order on the last axis
TINS = ["performance_year", "cohort", "tin"]


def kahan_sum(values: np.ndarray) -> np.ndarray:
    """Sum over axis 1 of `values` (n x terms x draws), term by term with Kahan's compensation, as Polars sums a
    float column (so Q7's quality points are the same bits as `quality.participant_quality`'s)."""
    total, carry = np.zeros((values.shape[0], values.shape[2])), np.zeros((values.shape[0], values.shape[2]))
    for j in range(values.shape[1]):
        y = values[:, j] - carry
        t = total + y
        carry = (t - total) - y
        total = t
    return total


class QualityDraws:
    """Q5/Q7 of the scorers `who` (PARTICIPANT, in the order of the scores returned) on the quality `rows`
    (BENCH_KEYS, tin, npi null for a TIN-level row, RATE_FREE_FLAGS; in the order of the rate matrices)."""

    def __init__(self, who: pl.DataFrame, rows: pl.DataFrame, qp: QualityRules):
        self.qp, self.n_rows, self.n_scorers = qp, rows.height, who.height
        self.flags = {c: rows[c].to_numpy() for c in quality.RATE_FREE_FLAGS}
        self.earns_nothing = rows.select(pl.any_horizontal(c for c, _ in quality.ROW_ZERO_REASONS)).to_series().to_numpy()
        self.rates = rows["performance_rate"].cast(pl.Float64).fill_null(np.nan).to_numpy()  # the run's (Q2/Q6)
        keyed = rows.select(*quality.BENCH_KEYS, "tin", "npi").with_row_index("_r")
        self.keys = keyed.select(quality.BENCH_KEYS).unique(maintain_order=True).with_row_index("_k")
        self.row_key = keyed.join(self.keys, on=quality.BENCH_KEYS, how="left", maintain_order="left")["_k"].to_numpy()
        self.key_lower = np.zeros(self.keys.height, bool)  # Q5's direction: the measure's, so the key's
        self.key_lower[self.row_key] = self.flags["lower_is_better"]
        self.key_rows = [np.flatnonzero(self.row_key == key) for key in range(self.keys.height)]
        # Q7: which rows each scorer counts, grouped by (scorer, measure): one slot per measure it submitted
        w = who.select(PARTICIPANT).with_row_index("_p")
        pairs = pl.concat([
            keyed.filter(pl.col("npi").is_not_null()).join(w, on=PARTICIPANT, how="inner").select("_p", "measure_id", "_r"),
            keyed.filter(pl.col("npi").is_null()).join(w.drop("npi"), on=TINS, how="inner").select("_p", "measure_id", "_r"),
        ]).sort("_p", "measure_id", "_r")
        self.pair_row = pairs["_r"].to_numpy().astype(np.int64)
        new_slot = pairs.select(((pl.col("_p") != pl.col("_p").shift()) | (pl.col("measure_id") != pl.col("measure_id").shift()))
                                .fill_null(True)).to_series().to_numpy()
        starts = np.flatnonzero(new_slot)
        self.slot_start = starts
        self.slot_scorer = pairs["_p"].to_numpy()[starts].astype(np.int64)
        scorer_start = np.flatnonzero(np.r_[True, self.slot_scorer[1:] != self.slot_scorer[:-1]]) if len(starts) else starts
        per_scorer = np.diff(np.r_[scorer_start, len(starts)])
        self.slot_rank = np.arange(len(starts)) - np.repeat(scorer_start, per_scorer)
        self.width = int(per_scorer.max()) if len(per_scorer) else 0
        self.slot_scored = self.flags["measure_scored"][self.pair_row[starts]] if len(starts) else np.zeros(0, bool)
        n_scored = {c: len(qp.scored_measures(c)) for c in qp.required_measures}
        self.measures = who["cohort"].replace_strict(n_scored, default=0, return_dtype=pl.Int64).to_numpy()

    # ------------------------------------------------------------------------------------- boundaries

    def draw_bounds(self, deciles: pl.DataFrame, first: int, stop: int, draw: str) -> np.ndarray:
        """Per benchmark key and draw first .. stop - 1, its boundaries oriented as Q5 compares them (keys x draws
        x BOUNDS; NaN: none). `deciles`: BENCH_KEYS, `draw`, BOUNDS (quality_benchmarks by draw)."""
        k = stop - first
        table = np.full((self.keys.height, k, len(BOUNDS)), np.nan)
        at = deciles.join(self.keys, on=quality.BENCH_KEYS, how="inner").filter(pl.col(draw).is_between(first, stop - 1))
        table[at["_k"].to_numpy(), at[draw].to_numpy() - first] = at.select(pl.col(BOUNDS).cast(pl.Float64)).to_numpy()
        return quality.orient(table, self.key_lower)

    def fixed_bounds(self, bench: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """V1: per row usable and rate_scale, per benchmark key its oriented boundaries (keys x 1 x BOUNDS), from
        `vquality.cms_deciles`; a row without a usable CMS benchmark keeps its pool points (`projected_rows`)."""
        bench = vquality.usable_deciles(bench, self.qp).select(*quality.BENCH_KEYS, "usable", "rate_scale", *BOUNDS)
        at = self.keys.join(bench, on=quality.BENCH_KEYS, how="left", maintain_order="left")
        usable = at["usable"].fill_null(False).to_numpy()[self.row_key]
        scale = at["rate_scale"].cast(pl.Float64).to_numpy()[self.row_key]
        bounds = quality.orient(at.select(pl.col(BOUNDS).cast(pl.Float64)).to_numpy(), self.key_lower)[:, None, :]
        return usable, scale, bounds

    # ------------------------------------------------------------------------------------- points, scores

    def points(self, rates: np.ndarray, bounds: np.ndarray, scale: np.ndarray | None = None) -> np.ndarray:
        """Q3-Q5 points (rows x draws) of the rows' `rates` (rows x draws; NaN: none) on their keys' oriented `bounds`
        (keys x draws or 1 x BOUNDS; NaN: no benchmark) as `quality.points_on_boundaries` gives them; a key at a
        time, its boundaries broadcast over its rows (never rows x draws x BOUNDS in memory). `scale`: V1's
        rate_scale per row (the rate in CMS units, `vquality.cms_rate_expr`)."""
        n, k = rates.shape
        if scale is not None:
            rates = pl.DataFrame({"performance_rate": rates.ravel(), "rate_scale": np.repeat(scale, k)}).select(
                pl.col("performance_rate", "rate_scale").fill_nan(None)).select(vquality.cms_rate_expr()).to_series(
            ).fill_null(np.nan).to_numpy().reshape(n, k)
        v = quality.orient(rates, self.flags["lower_is_better"])
        points = np.empty((n, k))
        for key, rows in enumerate(self.key_rows):
            points[rows] = quality.decile_points(v[rows], bounds[key][None], self.qp)[1]
        no_benchmark = np.isnan(bounds[self.row_key, :, BOUNDS.index("d1")])
        return np.where(self.earns_nothing[:, None] | no_benchmark, 0.0, points)

    def scores(self, points: np.ndarray) -> np.ndarray:
        """Q7 quality score (scorers x draws) from the rows' points (rows x draws)."""
        k = points.shape[1]
        out = np.zeros((self.n_scorers, k))
        if len(self.slot_start):
            best = np.fmax.reduceat(points[self.pair_row], self.slot_start, axis=0)  # Q7: best row per measure
            best[np.isnan(best) | ~self.slot_scored[:, None]] = 0.0  # Q7 counts scored measures; none: nothing
            dense = np.zeros((self.n_scorers, self.width, k))
            dense[self.slot_scorer, self.slot_rank] = best
            dense.sort(axis=1)  # ascending, as participant_quality sorts them (the zeros add nothing)
            out = kahan_sum(dense)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.measures[:, None] > 0, out / (10.0 * self.measures[:, None]), 0.0)


class PoolDeciles:
    """Q5's deciles of each drawn pool (peer_pool): `quality.quality_benchmarks` over the pool rows of the drawn
    members, a member drawn c times counting its rows c times, computed without repeating the rows: per benchmark
    key the rows are sorted once, and a draw's quantile is read off the running count of its copies, with the
    same linear interpolation (lower + (upper - lower) x fraction at (n - 1) x q) Polars makes."""

    def __init__(self, carried: pl.DataFrame, members: pl.DataFrame, qp: QualityRules):
        """`carried`: the pool rows with the member that carries each (member_npi); `members`: PARTICIPANT, _m."""
        if qp.quantile_method != "linear":
            raise ValueError(f"V3 pool deciles: quantile method {qp.quantile_method!r} (linear only)")
        pool = carried.filter(pl.col("in_benchmark") & pl.col("in_peer_pool")).join(
            members.select(*TINS, pl.col("npi").alias("member_npi"), "_m"), on=[*TINS, "member_npi"], how="inner")
        self.keys = pool.group_by(quality.BENCH_KEYS).agg(pl.col("lower_is_better").first()).sort(quality.BENCH_KEYS)
        pool = pool.join(self.keys.select(quality.BENCH_KEYS).with_row_index("_k"), on=quality.BENCH_KEYS).sort(
            "_k", "oriented_rate")
        self.key, self.member = pool["_k"].to_numpy(), pool["_m"].to_numpy().astype(np.int64)
        self.value = pool["oriented_rate"].cast(pl.Float64).to_numpy()
        self.n_members = members.height

    def deciles(self, drawn: pl.DataFrame, first: int, stop: int) -> pl.DataFrame:
        """BENCH_KEYS, DRAW, participants, direction, worst_rate, d1..d9 per key and draw first .. stop - 1 that
        has rows (`drawn`: _m, draw, copies of those draws)."""
        k = stop - first
        copies = np.zeros((self.n_members, k), np.int64)
        copies[drawn["_m"].to_numpy(), drawn[DRAW].to_numpy() - first] = drawn["copies"].to_numpy()
        parts = []
        for key in range(self.keys.height):
            at = np.flatnonzero(self.key == key)
            values = self.value[at]
            running = np.cumsum(copies[self.member[at]], axis=0)  # rows (ascending value) x draws
            n = running[-1]

            def nth(pos: np.ndarray) -> np.ndarray:  # the value at 0-based position pos of each draw's sorted pool
                return values[(running <= pos[None, :]).sum(axis=0).clip(max=len(values) - 1)]

            cols = {"_b0": nth(np.zeros(k, np.int64))}
            for q in range(1, 10):
                idx = (n - 1).astype(np.float64) * (q / 10)
                lo, hi = np.floor(idx), np.ceil(idx)
                low, high = nth(lo.astype(np.int64)), nth(hi.astype(np.int64))
                cols[f"_b{q}"] = low + (high - low) * (idx - lo)
            has = n > 0
            parts.append(pl.DataFrame({"_k": np.full(int(has.sum()), key, np.uint32),
                                       DRAW: np.arange(first, stop, dtype=np.int64)[has],
                                       "participants": n[has].astype(np.uint32),
                                       **{c: v[has] for c, v in cols.items()}}))
        sign = pl.when(pl.col("lower_is_better")).then(-1.0).otherwise(1.0)
        return pl.concat(parts).join(self.keys.with_row_index("_k"), on="_k").select(
            *quality.BENCH_KEYS, DRAW, "participants",
            pl.when(pl.col("lower_is_better")).then(pl.lit("lower_is_better")).otherwise(pl.lit("higher_is_better"))
            .alias("direction"), (sign * pl.col("_b0")).alias("worst_rate"),
            *[(sign * pl.col(f"_b{q}")).alias(f"d{q}") for q in range(1, 10)])
