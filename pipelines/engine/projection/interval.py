"""V3: intervals from a seeded bootstrap that resamples every source of a participant's figures.

Each draw b (`draws`: seeds, alignment) resamples, per `projection.bootstrap_sources`,
  own_episodes   the participant's own attributed episodes -> its cost measure score_b (R4) and, for HF with
                 Part A, its Q492 risk-standardized rate_b (Q6) from the same resampled episodes. The pool
                 figure resamples closed episodes only (E5); the projected figure closed and open ones (V5);
  quality_rates  its submitted rows (own and TIN-level): met_b ~ Binomial(cases, rate) -> rate_b (Q2); cases
                 and completeness are unchanged, so Q3/Q4 hold as in the run;
  peer_pool      the cohort's B1 pool, its participants drawn with replacement -> the drawn pool's cost median
                 and SD (B2/B3) and quality deciles (Q5: each member's pool rows, a TIN-level pool row carried by
                 one member of its practice, the lowest NPI without its own row), and S re-solved by P3 on the
                 drawn pool. For that solve the drawn members are RE-SCORED under the drawn benchmarks: their
                 run measure score on the drawn cost thresholds, their run quality rates on the drawn deciles
                 (their own episodes and rates are not resampled), their IA, PI, bonuses, status and Part B
                 paid held at the run's values; a member drawn k times counts k times.
A source left out is held at the run's value: the run's measure score and Q492 rate, the submitted rates,
the run's benchmarks and S. With no source every draw repeats the point figures.

Then each draw scores the participant as the run does, through scoring's own functions: pool figure = Q5
points on the drawn deciles (Q7 best row per measure, Q7 score), B3 cost points on the drawn median/SD;
projected figure = V1 (CMS deciles; measures without a CMS benchmark on the drawn pool's deciles), V2 (national
average with the drawn pool's SD when V2 takes its spread from the pool); both: S1 with the participant's IA,
PI and bonuses held, P3's factor with S_b, dollars = factor x Part B paid (P4). The interval is the central
`interval_level` of the draws; its sign reads "gains" (low > 0), "loses" (high < 0) or "not yet known".

Which participants are projected is the caller's explicit frame (`Bootstrap.participants`, `pool_figure` says
whether it has a pool figure), not a status test here.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator, NamedTuple

import numpy as np
import polars as pl

from pipelines.engine.methodology import Methodology
from pipelines.engine.projection.cost import SPREAD_POOL
from pipelines.engine.projection.draws import DRAW, PoolDraws, RateDraws, draw_index, own_episode_draws
from pipelines.engine.projection.quality_draws import TINS, PoolDeciles, QualityDraws
from pipelines.engine.scoring import cost, final, payment, quality
from pipelines.engine.scoring.params import QualityRules
from pipelines.engine.tables import PARTICIPANT

SOURCES = ("own_episodes", "quality_rates", "peer_pool")
DRAW_CHUNK = 50  # draws scored together (memory: ~1/10 of the draws' rows at the default 500 draws)
FIGURES = ("pool", "projected")
GAINS, LOSES, UNKNOWN = "gains", "loses", "not yet known"
HELD = ("ia_adjustment", "pi_adjustment", "complex_bonus", "small_practice_bonus")
SUMMARY_FIGURES = ("measure_score", *(f"{f}_{x}" for f in FIGURES for x in ("cost_points", "final_score", "factor",
                                                                           "dollar_impact")))


@dataclass(frozen=True)
class Bootstrap:
    """What V3 reads (the run's tables, shaped by the projection stage)."""

    participants: pl.DataFrame  # PARTICIPANT, pool_figure, measure_score, cohort_mean_cost, HELD..., partb_paid
    episodes: pl.DataFrame  # PARTICIPANT, episode_id, open, observed_cost, expected_cost, admissions,
    #                         expected_admissions, cohort_rate (Q6 columns null without Part A / for LBP)
    members: pl.DataFrame  # B1 pool: PARTICIPANT, status, measure_score, HELD..., partb_paid
    quality_rows: pl.DataFrame  # quality_measure_points (participant and TIN-level rows, in_peer_pool)
    cost_benchmarks: pl.DataFrame  # the run's B2/B3: performance_year, cohort, median, sd
    cms_quality: pl.DataFrame  # V1: vquality.cms_deciles
    reference: pl.DataFrame  # V2: projection.cost.reference_distribution
    scaling: pl.DataFrame  # the run's P3 S: cohort, scaling_factor
    qp: QualityRules
    part_a_measures: tuple[str, ...]  # Q6 (Q492): rates from the episodes, not binomial


# ---------------------------------------------------------------------------------- the drawn pool

def _scorable(rows: pl.DataFrame, qp: QualityRules) -> pl.DataFrame:
    """Q2 rows that can earn points (Q3, Q4 met, measure scored, a rate): the others earn 0 in every draw
    (their cases do not change), so Q7 loses nothing without them."""
    return quality.classify_rates(rows.select(
        *quality.BENCH_KEYS, "tin", "npi", "cases", "performance_rate", "data_completeness", "in_peer_pool"),
        qp).filter(pl.col("in_benchmark"))


def _pool_rows_by_member(rows: pl.DataFrame, members: pl.DataFrame) -> pl.DataFrame:
    """Q5's pool rows with the member that carries each: an own row its clinician; a TIN-level row (in the pool
    once for its practice) the practice's lowest-NPI member without its own row of that measure and type."""
    pool = rows.filter(pl.col("in_peer_pool"))
    own = pool.filter(pl.col("npi").is_not_null()).with_columns(pl.col("npi").alias("member_npi"))
    keys = ["performance_year", "cohort", "tin"]
    own_keys = own.select(*keys, "npi", "measure_id", "collection_type").unique()
    carriers = (pool.filter(pl.col("npi").is_null()).with_row_index("_t")
                .join(members.select(*keys, pl.col("npi").alias("member_npi")), on=keys, how="inner")
                .join(own_keys.rename({"npi": "member_npi"}), on=[*keys, "member_npi", "measure_id", "collection_type"],
                      how="anti")
                .sort("_t", "member_npi").group_by("_t", maintain_order=True).first().drop("_t"))
    return pl.concat([own, carriers.select(own.columns)])


def _explode_copies(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.int_ranges(0, "copies").alias("_copy")).explode("_copy").drop("_copy")


def pool_benchmarks(b: Bootstrap, m: Methodology, rows: pl.DataFrame, draws: int,
                    resample: bool) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Per (cohort, draw): cost benchmarks (median, sd, t1..t10), Q5 deciles, and P3's S of the drawn pool.
    Not resampled: the run's cost benchmarks and S, and Q5 over the run's pool rows, in every draw."""
    carried = _pool_rows_by_member(rows, b.members)
    if not resample:
        idx = draw_index(draws)
        bench = b.cost_benchmarks.select(pl.col("performance_year").cast(pl.Int64), "cohort", "median", "sd").with_columns(
            *cost.threshold_exprs(pl.col("median"), pl.col("sd"), m.benchmarks)).join(idx, how="cross")
        deciles = quality.quality_benchmarks(carried, b.qp).join(idx, how="cross")
        return bench, deciles, b.scaling.join(idx, how="cross")
    members = b.members.sort(PARTICIPANT).with_row_index("_m")  # P3's re-scoring reads a member's row by `_m`
    drawn = PoolDraws(members, draws, m.projection.seed)
    grid = QualityDraws(members, rows.join(members.select(TINS).unique(), on=TINS, how="semi"), b.qp)
    # Q5's linear quantiles read off the copies' running count; another quantile method repeats the rows
    pool_deciles = PoolDeciles(carried, members, b.qp) if b.qp.quantile_method == "linear" else carried
    parts = [_drawn_pool(b, m, grid, pool_deciles, drawn.rows(first, stop), first, stop)
             for first, stop in draw_chunks(draws)]
    bench, deciles, drawn_s = (pl.concat(list(frames), how="vertical_relaxed") for frames in zip(*parts))
    drawn_s = drawn_s.filter(pl.col("scaling_factor").is_not_null())
    # a cohort without pool members (early in an in-year run) keeps the S the caller gives it in every draw
    given = b.scaling.filter(pl.col("scaling_factor").is_not_null()).join(draw_index(draws), how="cross").join(
        drawn_s.select("cohort", DRAW), on=["cohort", DRAW], how="anti")
    return bench, deciles, pl.concat([drawn_s, given.select(drawn_s.columns)], how="vertical_relaxed")


def _drawn_pool(b: Bootstrap, m: Methodology, grid: QualityDraws, pool_deciles: PoolDeciles | pl.DataFrame,
                drawn: pl.DataFrame,
                first: int, stop: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The drawn pools of draws first .. stop - 1: their cost benchmarks (B2/B3), Q5 deciles (each member's pool
    rows as often as it was drawn) and P3's S."""
    bench = cost.cost_benchmarks(_explode_copies(drawn.select("performance_year", "cohort", "measure_score", DRAW,
                                                              "copies")), m.benchmarks, by=(DRAW,))
    if isinstance(pool_deciles, PoolDeciles):
        deciles = pool_deciles.deciles(drawn, first, stop)
    else:  # the carried pool rows, each drawn member's as often as it was drawn
        deciles = quality.quality_benchmarks(_explode_copies(pool_deciles.rename({"npi": "_row_npi"}).join(
            drawn.select(*TINS, pl.col("npi").alias("member_npi"), DRAW, "copies"),
            on=[*TINS, "member_npi"], how="inner").rename({"_row_npi": "npi"})), b.qp, by=(DRAW,))
    return bench, deciles, _drawn_scaling(b, m, drawn, grid, bench, deciles, first, stop)


def draw_chunks(draws: int) -> list[tuple[int, int]]:
    """The draws 0 .. draws - 1 in ranges of DRAW_CHUNK (first, stop): V3 scores a range at a time, so its
    memory is bounded by a range's rows (draws are independent given their pool; results do not depend on
    the chunking)."""
    return [(first, min(first + DRAW_CHUNK, draws)) for first in range(0, draws, DRAW_CHUNK)]


def _drawn_scaling(b: Bootstrap, m: Methodology, drawn: pl.DataFrame, grid: QualityDraws, bench: pl.DataFrame,
                   deciles: pl.DataFrame, first: int, stop: int) -> pl.DataFrame:
    """P3 on each drawn pool: its members re-scored under the draw's benchmarks (module doc), S solved over
    those with a final score > 0 and Part B paid > 0, each counted as often as it was drawn. Q5/Q7 score
    every member in every draw of the range at once (`grid`: the members' own and practice rows at their run
    rates), and each drawn member reads its draw's score."""
    rates = np.broadcast_to(grid.rates[:, None], (grid.n_rows, stop - first))
    qscore = grid.scores(grid.points(rates, grid.draw_bounds(deciles, first, stop, DRAW)))
    scored = (drawn.with_columns(pl.Series("quality_score", qscore[drawn["_m"].to_numpy(), drawn[DRAW].to_numpy() - first]))
              .join(bench.drop("participants"), on=["performance_year", "cohort", DRAW], how="left")
              .with_columns(cost.cost_points_expr(m.benchmarks).alias("cost_points"))
              .with_columns((pl.col("cost_points") / 10.0).alias("cost_score"))
              .with_columns(final.score_by_status_expr(m.scoring).alias("final_score"))
              .with_columns(pl.col("partb_paid").cast(pl.Float64).fill_null(0.0),
                            payment.transformed_score_expr(m.payment).alias("transformed_score"))
              .filter(payment.payment_status_expr() == payment.IN_POOL)
              .with_columns((pl.col("partb_paid") * pl.col("copies")).alias("weight"))
              .sort("cohort", DRAW, "transformed_score", "weight"))
    rows_out = []
    for (cohort, d), g in scored.group_by("cohort", DRAW, maintain_order=True):
        s = payment.solve_scaling(g["transformed_score"].to_numpy(), g["weight"].to_numpy(), m.payment.risk_level,
                                  m.payment.payback_share)
        rows_out.append((cohort, d, s))
    return pl.DataFrame(rows_out, schema={"cohort": pl.Utf8, DRAW: pl.Int64, "scaling_factor": pl.Float64},
                        orient="row")


# ---------------------------------------------------------------------------------- a participant's draws

def bootstrap(b: Bootstrap, m: Methodology) -> pl.DataFrame:
    """One row per (participant, draw): measure_score (closed episodes) and, per figure, cost points, quality
    score, final score, factor and dollar impact (pool_* null for participants without a pool figure), and the
    draw's S."""
    n = _checked_draws(m)
    participants = b.participants.sort(PARTICIPANT)
    if participants.height == 0:
        return pl.DataFrame(schema={**{k: participants.schema[k] for k in PARTICIPANT}, DRAW: pl.Int64,
                                    **{f: pl.Float64 for f in (*SUMMARY_FIGURES, "pool_quality_score",
                                                               "projected_quality_score", "scaling_factor")}})
    parts = list(scored_chunks(b, m, participants))
    return participant_major(parts, participants.height, [stop - first for first, stop in draw_chunks(n)])


def _checked_draws(m: Methodology) -> int:
    """The number of draws, once the configured bootstrap sources are known ones."""
    p = m.projection
    unknown = sorted(set(p.bootstrap_sources) - set(SOURCES))
    if unknown:
        raise ValueError(f"projection.bootstrap_sources: unknown source {unknown[0]!r} (one of {', '.join(SOURCES)})")
    return p.bootstrap_draws


class DrawnPools(NamedTuple):
    """What every participant's draws share: the Q2 rows that can earn points and, per (cohort, draw), the drawn
    pool's cost benchmarks, Q5 deciles and P3's S (`pool_benchmarks`)."""

    rows: pl.DataFrame
    bench: pl.DataFrame
    deciles: pl.DataFrame
    scaling: pl.DataFrame


def resampled(m: Methodology) -> dict[str, bool]:
    """Per V3 source (SOURCES), whether `projection.bootstrap_sources` resamples it."""
    return {s: s in m.projection.bootstrap_sources for s in SOURCES}


def drawn_pools(b: Bootstrap, m: Methodology) -> DrawnPools:
    """`DrawnPools` of the run: computed once, shared by every block of participants."""
    rows = _scorable(b.quality_rows, b.qp)
    return DrawnPools(rows, *pool_benchmarks(b, m, rows, m.projection.bootstrap_draws, resampled(m)["peer_pool"]))


def scored_chunks(b: Bootstrap, m: Methodology, participants: pl.DataFrame,
                  pools: DrawnPools | None = None) -> Iterator[pl.DataFrame]:
    """`bootstrap`'s rows one chunk of draws at a time (`draw_chunks`), each sorted by participant then draw;
    `participants`: b.participants (or some of them: a participant's draws depend on its own key, rows and
    episodes and on the drawn pools only) sorted by PARTICIPANT, at least one."""
    p = m.projection
    n, seed = p.bootstrap_draws, p.seed
    on = resampled(m)
    rows, bench, deciles, scaling = pools if pools is not None else drawn_pools(b, m)
    own = own_episode_draws(participants, b.episodes, n, seed, on["own_episodes"])

    # quality rates: the participants' own rows and their TINs' rows, one binomial stream per row
    keys = ["performance_year", "cohort", "tin"]
    mine = rows.join(participants.select(keys).unique(), on=keys, how="semi").filter(
        pl.col("npi").is_null() | pl.col("npi").is_in(participants["npi"].implode())).select(
        *quality.BENCH_KEYS, "tin", "npi", "cases", "performance_rate", "data_completeness",
        *quality.RATE_FREE_FLAGS)  # Q2's and their rate-free flags: only the rate's flags are redone per draw
    computed = pl.col("measure_id").is_in(list(b.part_a_measures))
    submitted = RateDraws(mine.filter(~computed), n, seed, on["quality_rates"])
    q6_base = mine.filter(computed)
    grid = QualityDraws(participants, pl.concat([submitted.rows.select(q6_base.columns), q6_base]), b.qp)
    q6 = _q6_rates(own, q6_base, n)
    cms = grid.fixed_bounds(b.cms_quality)
    for first, stop in draw_chunks(n):
        in_chunk = pl.col(DRAW).is_between(first, stop - 1)
        scores = _quality_scores(grid, submitted.rates[:, first:stop], q6, cms, deciles, first, stop)
        yield _score_chunk(b, m, participants, scores, own.filter(in_chunk), bench.filter(in_chunk),
                           scaling.filter(in_chunk), first, stop).sort([*PARTICIPANT, DRAW])


PARTICIPANT_BLOCK = 10_000  # participants drawn together by `bootstrap_intervals` (memory: a block took about
#                              1.3 GB at 500 draws at 100 M lines, 0.7 GB at 10 M)


def participant_blocks(participants: pl.DataFrame, size: int = PARTICIPANT_BLOCK) -> list[pl.DataFrame]:
    """`participants` (sorted by PARTICIPANT) in consecutive blocks of about `size`, a practice's participants of
    a cohort never split (its TIN-level quality rows and its dollars per draw stay in one block)."""
    practice = participants.select(TIN_KEYS)
    starts = np.flatnonzero(practice.select(pl.any_horizontal(pl.col(c) != pl.col(c).shift() for c in TIN_KEYS)
                                            .fill_null(True)).to_series().to_numpy())
    cuts, at = [0], 0
    for start in starts:
        if start - at >= size:
            cuts.append(int(start))
            at = int(start)
    cuts.append(participants.height)
    return [participants.slice(lo, hi - lo) for lo, hi in zip(cuts, cuts[1:]) if hi > lo]


def bootstrap_intervals(b: Bootstrap, m: Methodology, points: pl.DataFrame,
                        block: int = PARTICIPANT_BLOCK) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`summarise(bootstrap(b, m), level)` and `tin_intervals(bootstrap(b, m), points, level)` without the whole
    (participant x draw) frame (issue 20: at 100 M lines, 184,749 participants x 500 draws passed 20 GB): the
    participants are drawn a block at a time (`participant_blocks`), each chunk of draws is summed per TIN and
    draw as it is scored, and only the summary figures are kept, as (block x draw) matrices whose quantiles are
    Polars' linear interpolation (`row_quantiles`)."""
    level, n = m.projection.interval_level, _checked_draws(m)
    participants = b.participants.sort(PARTICIPANT)
    if participants.height == 0:
        return _whole_frame_intervals(b, m, points, level)
    pools = drawn_pools(b, m)
    lo, hi = _bounds(level)
    ranges, per_draw = [], []
    for who in participant_blocks(participants, block):
        count = who.height
        figures = {f: np.full((count, n), np.nan) for f in SUMMARY_FIGURES}
        mine = replace(b, episodes=b.episodes.join(who.select(PARTICIPANT), on=PARTICIPANT, how="semi"))
        for (first, stop), chunk in zip(draw_chunks(n), scored_chunks(mine, m, who, pools)):
            k = stop - first
            if chunk.height != count * k or not chunk.select(PARTICIPANT)[::k].equals(who.select(PARTICIPANT)):
                return _whole_frame_intervals(b, m, points, level)  # not one row per participant and draw
            for f in SUMMARY_FIGURES:
                figures[f][:, first:stop] = chunk[f].cast(pl.Float64).to_numpy().reshape(count, k)
            per_draw.append(tin_draw_totals(chunk))
            del chunk
        ranges.append(who.select(PARTICIPANT).with_columns(
            *[pl.Series(f"{f}_low", row_quantiles(figures[f], lo), nan_to_null=True) for f in SUMMARY_FIGURES],
            *[pl.Series(f"{f}_high", row_quantiles(figures[f], hi), nan_to_null=True) for f in SUMMARY_FIGURES],
            pl.lit(n, dtype=pl.UInt32).alias("draws")))
        del figures
    return pl.concat(ranges), tin_ranges(pl.concat(per_draw), participants.select(PARTICIPANT), points, level)


def _whole_frame_intervals(b: Bootstrap, m: Methodology, points: pl.DataFrame,
                           level: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`bootstrap_intervals` the plain way, from the whole (participant x draw) frame."""
    draws = bootstrap(b, m)
    return summarise(draws, level), tin_intervals(draws, points, level)


def row_quantiles(values: np.ndarray, q: float) -> np.ndarray:
    """Each row's `q` quantile over its non-NaN values (NaN: a null draw) by Polars' linear interpolation, as
    `summarise`'s group quantile: lower + (upper - lower) x fraction at position nulls + (n - 1) x q of the values
    sorted with the nulls first (Polars counts the position past the nulls: its fraction's last bits differ from
    (n - 1) x q's); NaN where a row has none."""
    ordered = np.sort(values, axis=1)  # NaN last: value j of the non-null ones is at j
    n = (~np.isnan(values)).sum(axis=1)
    nulls = values.shape[1] - n
    idx = nulls + (n - 1).astype(np.float64) * q
    low_i, high_i = np.floor(idx), np.ceil(idx)
    rows = np.arange(values.shape[0])
    safe = lambda i: np.clip(i - nulls, 0, values.shape[1] - 1).astype(np.int64)  # noqa: E731 (rows without values)
    low, high = ordered[rows, safe(low_i)], ordered[rows, safe(high_i)]
    out = np.where(high_i == low_i, low, low + (high - low) * (idx - low_i))
    out[n == 0] = np.nan
    return out


def participant_major(parts: list[pl.DataFrame], participants: int, draws: list[int]) -> pl.DataFrame:
    """The draw chunks' rows in (participant, draw) order. Each part holds every one of `participants` x its
    `draws[i]` draws, sorted by participant then draw: one gather by computed positions, not a sort of the whole
    frame by the participant keys (issue 20: at 10M lines that sort took 1.5 GB over the frame's own 0.7 GB, the
    run's peak RSS). Empties `parts` (the frame is built from them)."""
    if [p.height for p in parts] != [participants * k for k in draws]:  # not one row per participant and draw
        return pl.concat(parts).sort([*PARTICIPANT, DRAW])
    offsets = np.cumsum([0, *[p.height for p in parts[:-1]]])
    who = np.arange(participants, dtype=np.int64)[:, None]
    position = np.hstack([o + who * k + np.arange(k, dtype=np.int64) for o, k in zip(offsets, draws)]).ravel()
    whole = pl.concat(parts)
    parts.clear()
    return whole[pl.Series(position)]


def _q6_rates(own: pl.DataFrame, q6_base: pl.DataFrame, draws: int) -> dict[str, np.ndarray]:
    """Per figure, the Q6 rate of each computed row (Q492) in each draw (rows x draws), from the same
    resample of its participant's episodes as its cost measure score; the run's rate where the draw has none."""
    at = q6_base.select(PARTICIPANT).with_row_index("_q").join(own, on=PARTICIPANT, how="inner")
    run = q6_base["performance_rate"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    out = {}
    for figure in FIGURES:
        rates = np.full((q6_base.height, draws), np.nan)
        rates[at["_q"].to_numpy(), at[DRAW].to_numpy()] = at[f"{figure}_q6_rate"].cast(pl.Float64).fill_null(np.nan).to_numpy()
        out[figure] = np.where(np.isnan(rates), run[:, None], rates)  # coalesce(drawn Q6 rate, run rate)
    return out


def _quality_scores(grid: QualityDraws, submitted: np.ndarray, q6: dict[str, np.ndarray], cms: tuple,
                    deciles: pl.DataFrame, first: int, stop: int) -> dict[str, np.ndarray]:
    """Q7 per (participant, draw first .. stop - 1), participants x draws, per figure: the pool figure on the
    draw's Q5 deciles, the projected one on V1 (CMS deciles; rows without one keep the draw's pool points);
    each on its own Q6 rates (V5: the projected figure's resample counts the open episodes)."""
    rates = {f: np.vstack([submitted, q6[f][:, first:stop]]) for f in FIGURES}
    bounds = grid.draw_bounds(deciles, first, stop, DRAW)
    pool_points = grid.points(rates["pool"], bounds)
    if not np.array_equal(rates["pool"], rates["projected"], equal_nan=True):
        pool_points_projected = grid.points(rates["projected"], bounds)
    else:  # no open episodes: the same rates
        pool_points_projected = pool_points
    usable, scale, cms_bounds = cms
    projected_points = np.where(usable[:, None], grid.points(rates["projected"], cms_bounds, scale),
                                pool_points_projected)
    return {"pool": grid.scores(pool_points), "projected": grid.scores(projected_points)}


def _score_chunk(b: Bootstrap, m: Methodology, participants: pl.DataFrame, scores: dict[str, np.ndarray],
                 own: pl.DataFrame, bench: pl.DataFrame, scaling: pl.DataFrame, first: int, stop: int) -> pl.DataFrame:
    """`bootstrap` for draws first .. stop - 1: every frame given holds those draws only; `scores`: the
    figures' quality scores, participants (in `participants`' order) x draws."""
    k = stop - first
    who = participants.select(PARTICIPANT)[np.repeat(np.arange(participants.height), k)].with_columns(
        pl.Series(DRAW, np.tile(np.arange(first, stop, dtype=np.int64), participants.height)),
        *[pl.Series(f"{f}_quality_score", scores[f].ravel()) for f in FIGURES])
    frame = (who.join(own, on=[*PARTICIPANT, DRAW], how="left")
             .join(participants.select(*PARTICIPANT, "pool_figure", *HELD, "partb_paid",
                                       *[c for c in ("projected_partb_paid",) if c in participants.columns]),
                   on=PARTICIPANT, how="left"))
    return score_draws(frame, bench, scaling, b.reference, m)


def score_draws(frame: pl.DataFrame, bench: pl.DataFrame, scaling: pl.DataFrame, reference: pl.DataFrame,
                m: Methodology) -> pl.DataFrame:
    """B3, S1 and P3/P4 on every draw, for both figures. `frame`: per (participant, draw) the figures' measure
    scores and quality scores, pool_figure, HELD and partb_paid; `bench`: the draw's cost benchmarks; `scaling`:
    the draw's S; `reference`: V2 (national average; its spread is the draw's pool SD when V2 takes it from
    the pool)."""
    ref = reference.select("cohort", pl.col("median").alias("_national"), pl.col("sd").alias("_fixed_sd"),
                           (pl.col("spread_source") == SPREAD_POOL).alias("_pool_spread"))
    out = (frame.join(bench.select("cohort", DRAW, pl.col("median").alias("_pool_median"), pl.col("sd").alias("_pool_sd")),
                      on=["cohort", DRAW], how="left")
           .join(ref, on="cohort", how="left").join(scaling.select("cohort", DRAW, "scaling_factor"), on=["cohort", DRAW],
                                                    how="left"))
    spread = pl.when(pl.col("_pool_spread")).then(pl.col("_pool_sd")).otherwise(pl.col("_fixed_sd"))
    for figure, median, sd in (("pool", pl.col("_pool_median"), pl.col("_pool_sd")),
                               ("projected", pl.col("_national"), spread)):
        out = (out.with_columns(median.alias("median"), sd.alias("sd"))
               .with_columns(*cost.threshold_exprs(pl.col("median"), pl.col("sd"), m.benchmarks))
               .with_columns(cost.cost_points_expr(m.benchmarks, f"{figure}_measure_score").alias(f"{figure}_cost_points"))
               .with_columns((pl.col(f"{figure}_cost_points") / 10.0).alias("cost_score"),
                             pl.col(f"{figure}_quality_score").alias("quality_score"))
               .with_columns(final.final_score_expr(m.scoring).alias(f"{figure}_final_score"))
               .with_columns(payment.adjustment_factor_expr(m.payment, f"{figure}_final_score").alias(f"{figure}_factor"))
               .with_columns((pl.col(f"{figure}_factor") * pl.col(_paid(frame, figure))).alias(f"{figure}_dollar_impact")))
    pool_cols = [f"pool_{x}" for x in ("quality_score", "cost_points", "final_score", "factor", "dollar_impact")]
    return out.with_columns(pl.when(pl.col("pool_figure")).then(pl.col(c)).alias(c) for c in pool_cols).select(
        *PARTICIPANT, DRAW, pl.col("pool_measure_score").alias("measure_score"), *SUMMARY_FIGURES[1:],
        "pool_quality_score", "projected_quality_score", "scaling_factor")


def _paid(frame: pl.DataFrame, figure: str) -> str:
    """P4's B of a figure: V5's Part B paid scaled to the whole PY for the projected figure when given."""
    return "projected_partb_paid" if figure == "projected" and "projected_partb_paid" in frame.columns else "partb_paid"


def factor_expr(fs: str, pp) -> pl.Expr:
    """V3: P3's adjustment factor of final score `fs` with scaling factor S (column `scaling_factor`) and the
    participant's Part B paid (`partb_paid`); no S, or no final score -> null."""
    return payment.adjustment_factor_expr(pp, fs)


# ---------------------------------------------------------------------------------- intervals and words

def _bounds(level: float) -> tuple[float, float]:
    return (1 - level) / 2, 1 - (1 - level) / 2


def summarise(scored: pl.DataFrame, level: float) -> pl.DataFrame:
    """Central `level` interval (low, high) of each figure over the draws, per participant."""
    lo, hi = _bounds(level)
    return scored.group_by(PARTICIPANT).agg(
        *[pl.col(f).quantile(lo, interpolation="linear").alias(f"{f}_low") for f in SUMMARY_FIGURES],
        *[pl.col(f).quantile(hi, interpolation="linear").alias(f"{f}_high") for f in SUMMARY_FIGURES],
        pl.len().alias("draws"))


def sign_expr(low: str, high: str) -> pl.Expr:
    """V3 in words: 'gains' when the interval's low end is above zero, 'loses' when its high end is below zero,
    'not yet known' when it holds zero; null without an interval."""
    return (pl.when(pl.col(low) > 0).then(pl.lit(GAINS)).when(pl.col(high) < 0).then(pl.lit(LOSES))
            .when(pl.col(low).is_not_null() & pl.col(high).is_not_null()).then(pl.lit(UNKNOWN))
            .otherwise(None))


def fixed_intervals(points: pl.DataFrame) -> pl.DataFrame:
    """S6 (failed minimum submission): final score 0 and factor -r in every draw, so each interval is its point
    (no spread). `points`: PARTICIPANT and the figures' final score, factor and dollar impact."""
    cols = [f"{f}_{x}" for f in FIGURES for x in ("final_score", "factor", "dollar_impact")]
    return points.select(*PARTICIPANT, *[pl.col(c).alias(f"{c}_{e}") for c in cols for e in ("low", "high")])


def with_signs(ranges: pl.DataFrame) -> pl.DataFrame:
    """Each figure's sign in words, from its factor's interval (`<figure>_sign`)."""
    return ranges.with_columns(sign_expr(f"{f}_factor_low", f"{f}_factor_high").alias(f"{f}_sign") for f in FIGURES)


def tin_intervals(scored: pl.DataFrame, points: pl.DataFrame, level: float) -> pl.DataFrame:
    """Per TIN, cohort and figure: the interval of the practice's dollars, the sum over its participants of
    dollars_b in each draw b (the same pool draw b for all of them, their own draws independent), plus the
    point dollars of participants without draws (S6: -r x B in every draw); and its sign in words.
    `scored`: bootstrap rows; `points`: every projected participant with its point dollar impacts."""
    return tin_ranges(tin_draw_totals(scored), scored.select(PARTICIPANT).unique(), points, level)


TIN_KEYS = ["performance_year", "tin", "cohort"]
TIN_DOLLARS = [f"{f}_dollar_impact" for f in FIGURES]


def _total(c: str) -> pl.Expr:
    """A sum of dollars, null when no participant has dollars (a sum of nothing is not 0 dollars)."""
    return pl.when(pl.col(c).count() > 0).then(pl.col(c).sum()).alias(c)


def tin_draw_totals(scored: pl.DataFrame) -> pl.DataFrame:
    """`tin_intervals`' sums: per TIN, cohort and draw, the dollars of the participants with draws."""
    return scored.group_by(*TIN_KEYS, DRAW).agg(*[_total(c) for c in TIN_DOLLARS])


def tin_ranges(totals: pl.DataFrame, drawn: pl.DataFrame, points: pl.DataFrame, level: float) -> pl.DataFrame:
    """`tin_intervals` from its per-draw sums (`tin_draw_totals`) and the participants with draws (`drawn`)."""
    keys, dollars, total = TIN_KEYS, TIN_DOLLARS, _total
    fixed = points.join(drawn, on=PARTICIPANT, how="anti").group_by(keys).agg(
        *[total(c) for c in dollars])
    per_draw = totals.join(
        fixed.rename({c: f"_fixed_{c}" for c in dollars}), on=keys, how="left").with_columns(
        pl.when(pl.col(c).is_null() & pl.col(f"_fixed_{c}").is_null()).then(None)
        .otherwise(pl.col(c).fill_null(0.0) + pl.col(f"_fixed_{c}").fill_null(0.0)).alias(c) for c in dollars)
    lo, hi = _bounds(level)
    drawn = per_draw.group_by(keys).agg(
        *[pl.col(c).quantile(lo, interpolation="linear").alias(f"{c}_low") for c in dollars],
        *[pl.col(c).quantile(hi, interpolation="linear").alias(f"{c}_high") for c in dollars])
    constant = fixed.join(drawn.select(keys), on=keys, how="anti").select(
        *keys, *[pl.col(c).alias(f"{c}_{e}") for c in dollars for e in ("low", "high")])
    out = pl.concat([drawn, constant.select(drawn.columns)])
    return out.with_columns(sign_expr(f"{f}_dollar_impact_low", f"{f}_dollar_impact_high").alias(f"{f}_sign")
                            for f in FIGURES)
