"""V3's three resampled sources, one function each; `interval` scores the draws.

Every source is seeded from projection.seed and the key of what it resamples (never from a position in the
run's output), so a participant's draws do not depend on which other participants are projected:
  own episodes    seed + "own" + the participant's key (PY, cohort, TIN, NPI); the projected figure, when the
                  participant has open episodes (E5/V5), resamples all its rows with seed + "own-all" + key
  quality rates   seed + "rate" + the row's key (TIN, NPI or blank for a TIN-level row, measure, collection
                  type): a TIN-level row draws the same rates for every clinician of the practice
  peer pool       seed + "pool" + the cohort: draw b is the same pool for every participant of the cohort,
                  so a TIN's participants are aligned on b (their own draws stay independent)
A draw is the index b = 0 .. bootstrap_draws - 1 (column `draw`).
"""
from __future__ import annotations

import zlib

import numpy as np
import polars as pl

from pipelines.engine.scoring import admissions, cost
from pipelines.engine.tables import PARTICIPANT

DRAW = "draw"
OWN_SUMS = ("observed_cost", "expected_cost", "admissions", "expected_admissions")


def rng(seed: int, *parts: str) -> np.random.Generator:
    return np.random.default_rng([seed, *(zlib.crc32(p.encode()) for p in parts)])


def draw_index(draws: int) -> pl.DataFrame:
    return pl.DataFrame({DRAW: np.arange(draws, dtype=np.int64)})


# ---------------------------------------------------------------------------------- own episodes

def _resampled_sums(values: dict[str, np.ndarray], draws: int, gen: np.random.Generator) -> dict[str, np.ndarray]:
    """Sums of R4's and Q6's episode columns (`values`: OWN_SUMS -> one participant's episodes) over `draws`
    resamples (with replacement) of its episodes; the same resampled rows for every column (Q492 moves with
    the cost measure score). Q6 sums are NaN when the episodes carry no admissions (LBP, or no Part A)."""
    k = len(values[OWN_SUMS[0]])
    idx = gen.integers(0, k, size=(draws, k))
    return {c: v[idx].sum(axis=1) if not np.isnan(v).any() else np.full(draws, np.nan) for c, v in values.items()}


def own_episode_draws(participants: pl.DataFrame, episodes: pl.DataFrame, draws: int, seed: int,
                      resample: bool) -> pl.DataFrame:
    """Per (participant, draw): the cost measure score (R4) and the Q6 risk-standardized rate of the pool
    figure (closed episodes only, E5) and of the projected figure (closed + open episodes, V5).

    `participants`: PARTICIPANT, measure_score (the run's R4), cohort_mean_cost; `episodes`: PARTICIPANT,
    episode_id, open, observed_cost (winsorized), expected_cost, admissions, expected_admissions and
    cohort_rate (Q6; null without Part A). `resample` false: the run's measure score and no Q6 rate (the
    submitted Q492 row keeps its rate), in every draw."""
    keys = participants.select(PARTICIPANT).sort(PARTICIPANT)
    if not resample:
        return keys.join(draw_index(draws), how="cross").join(
            participants.select(*PARTICIPANT, "measure_score"), on=PARTICIPANT, how="left").with_columns(
            pl.col("measure_score").alias("pool_measure_score"), pl.col("measure_score").alias("projected_measure_score"),
            pl.lit(None, pl.Float64).alias("pool_q6_rate"), pl.lit(None, pl.Float64).alias("projected_q6_rate")
        ).drop("measure_score")
    eps = episodes.with_columns(pl.col("admissions", "expected_admissions").cast(pl.Float64).fill_null(np.nan)).sort(
        [*PARTICIPANT, "episode_id"])
    # each participant's episodes as a slice of numpy columns (no frame per participant: ~10k of them at 10 M)
    spans = (eps.select(PARTICIPANT).with_row_index("_first").group_by(PARTICIPANT, maintain_order=True)
             .agg(pl.col("_first").first(), pl.len().alias("_n")))
    spans = keys.join(spans, on=PARTICIPANT, how="inner", maintain_order="left")
    columns = {c: eps[c].cast(pl.Float64).to_numpy() for c in OWN_SUMS}
    is_open = eps["open"].to_numpy()
    out = {f"{f}_{c}": np.empty(spans.height * draws) for f in ("pool", "projected") for c in OWN_SUMS}
    for i, (key, first, n) in enumerate(zip(spans.select(PARTICIPANT).iter_rows(), spans["_first"], spans["_n"])):
        span = slice(first, first + n)
        closed = ~is_open[span]
        pool = (_resampled_sums({c: v[span][closed] for c, v in columns.items()}, draws,
                                rng(seed, "own", *map(str, key))) if closed.any()
                else {c: np.full(draws, np.nan) for c in OWN_SUMS})
        projected = pool if closed.all() else _resampled_sums(
            {c: v[span] for c, v in columns.items()}, draws, rng(seed, "own-all", *map(str, key)))
        for figure, sums in (("pool", pool), ("projected", projected)):
            for c in OWN_SUMS:
                out[f"{figure}_{c}"][i * draws:(i + 1) * draws] = sums[c]
    frame = spans.select(PARTICIPANT).gather(np.repeat(np.arange(spans.height), draws)).with_columns(
        pl.Series(DRAW, np.tile(np.arange(draws, dtype=np.int64), spans.height)),
        *[pl.Series(c, v).fill_nan(None) for c, v in out.items()])
    rates = episodes.group_by(PARTICIPANT).agg(pl.col("cohort_rate").first())
    frame = frame.join(participants.select(*PARTICIPANT, "cohort_mean_cost"), on=PARTICIPANT, how="left").join(
        rates, on=PARTICIPANT, how="left")
    return frame.select(
        *PARTICIPANT, DRAW,
        *[cost.measure_score_expr(pl.col(f"{f}_observed_cost"), pl.col(f"{f}_expected_cost"),
                                  pl.col("cohort_mean_cost")).alias(f"{f}_measure_score") for f in ("pool", "projected")],
        *[pl.when(pl.col(f"{f}_admissions").is_not_null() & pl.col("cohort_rate").is_not_null()).then(
            admissions.risk_standardized_rate_expr(pl.col(f"{f}_admissions"), pl.col(f"{f}_expected_admissions"),
                                                   pl.col("cohort_rate"))).alias(f"{f}_q6_rate")
          for f in ("pool", "projected")])


# ---------------------------------------------------------------------------------- quality rates

def quality_rate_draws(rows: pl.DataFrame, draws: int, seed: int, resample: bool) -> pl.DataFrame:
    """Per (submitted row, draw): performance_rate_b = met_b / cases with met_b ~ Binomial(cases, rate) (Q2's
    rate on the row's own case count; cases, and so Q3/Q4, do not change). `rows`: quality_measure_points
    rows (tin, npi or null, measure_id, collection_type, cases, performance_rate, ...). `resample` false:
    the submitted rate in every draw."""
    return RateDraws(rows, draws, seed, resample).long(0, draws)


class RateDraws:
    """`quality_rate_draws` drawn once as a (row x draw) matrix of rates, handed out a range of draws at a time
    (`long`), so V3 never holds every row of every draw at once."""

    def __init__(self, rows: pl.DataFrame, draws: int, seed: int, resample: bool):
        self.rows = rows.sort("tin", "npi", "measure_id", "collection_type", nulls_last=True).with_row_index("_r")
        rate = self.rows["performance_rate"].cast(pl.Float64).fill_null(np.nan).to_numpy()
        self.rates = np.repeat(rate[:, None], draws, axis=1)
        if resample:
            cases = self.rows["cases"].cast(pl.Float64).fill_null(0).to_numpy().round().astype(np.int64)
            for i, r in enumerate(self.rows.select("tin", "npi", "measure_id", "collection_type").iter_rows()):
                if cases[i] > 0 and not np.isnan(rate[i]):
                    met = rng(seed, "rate", r[0], r[1] or "", r[2], r[3]).binomial(cases[i], rate[i], size=draws)
                    self.rates[i] = met / cases[i]

    def long(self, first: int, stop: int) -> pl.DataFrame:
        """Per (row, draw) for draws first .. stop - 1: the drawn performance_rate and the row's other columns."""
        n, k = self.rows.height, stop - first
        long = pl.DataFrame({"_r": np.repeat(np.arange(n, dtype=np.uint32), k),
                             DRAW: np.tile(np.arange(first, stop, dtype=np.int64), n),
                             "performance_rate": self.rates[:, first:stop].ravel()}).with_columns(
            pl.col("performance_rate").fill_nan(None))
        return long.join(self.rows.drop("performance_rate"), on="_r", how="left").drop("_r")


# ---------------------------------------------------------------------------------- peer pool

def pool_member_draws(members: pl.DataFrame, draws: int, seed: int) -> pl.DataFrame:
    """Per cohort, `draws` resamples of the B1 pool's members (with replacement, as many as the pool has):
    one row per (draw, member) drawn, with `copies` = how many times it was drawn. `members`: PARTICIPANT
    (+ anything else, carried)."""
    return PoolDraws(members, draws, seed).rows(0, draws)


class PoolDraws:
    """`pool_member_draws` drawn once as a (draw x member) matrix of copies per cohort, its rows handed out a
    range of draws at a time (`rows`): at 100 M lines the rows of every draw are 500 x the pool's members
    (issue 20)."""

    def __init__(self, members: pl.DataFrame, draws: int, seed: int):
        self.members = members
        self.cohorts: list[tuple[pl.DataFrame, np.ndarray]] = []  # (the cohort's members, copies: draws x members)
        for (cohort,), g in members.sort(PARTICIPANT).group_by("cohort", maintain_order=True):
            n = g.height
            idx = rng(seed, "pool", cohort).integers(0, n, size=(draws, n))
            copies = np.empty((draws, n), np.int32)
            for b in range(draws):  # a draw at a time: no second (draws x members) int64 matrix
                copies[b] = np.bincount(idx[b], minlength=n)
            del idx
            self.cohorts.append((g, copies))

    def rows(self, first: int, stop: int) -> pl.DataFrame:
        """Per cohort, one row per (draw, member) drawn for draws first .. stop - 1, in (draw, member) order."""
        parts = []
        for g, copies in self.cohorts:
            b, j = np.nonzero(copies[first:stop])
            parts.append(g[j].with_columns(pl.Series(DRAW, (b + first).astype(np.int64)),
                                           pl.Series("copies", copies[first:stop][b, j].astype(np.int64))))
        if not parts:
            return self.members.clear().with_columns(pl.lit(None, pl.Int64).alias(DRAW),
                                                     pl.lit(None, pl.Int64).alias("copies"))
        return pl.concat(parts)
