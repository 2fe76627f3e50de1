"""Quality: performance rate (Q2), completeness (Q3), case minimum (Q4), decile benchmarks and
points (Q5), quality category score (Q7). Q492 is computed from Part A claims (Q6,
`pipelines/engine/scoring/admissions.py`) and enters here through `classify_rates`; without Part A it is
not scored (`quality_params(..., part_a_supplied=False)`) and the reports say so.
"""
from __future__ import annotations

import numpy as np
import polars as pl

from pipelines.engine.scoring.params import QualityRules
from pipelines.engine.tables import PARTICIPANT

BENCH_KEYS = ["performance_year", "cohort", "measure_id", "collection_type"]
DECILES = [f"d{k}" for k in range(1, 10)]
RATE_FREE_FLAGS = ("meets_completeness", "meets_case_minimum", "lower_is_better", "measure_scored")  # classify_rates'
ISSUE_COLUMNS = {"performance_year": pl.Int64, "tin": pl.Utf8, "npi": pl.Utf8, "measure_id": pl.Utf8,
                 "collection_type": pl.Utf8, "source_file": pl.Utf8, "source_row": pl.Int64, "rule": pl.Utf8,
                 "reason": pl.Utf8}
SOURCE_FILE = "quality_submissions.csv"


def drop_measures(subs: pl.DataFrame, measures: list[str]) -> tuple[pl.DataFrame, int]:
    """Q6: submitted rows of measures computed from claims are replaced by the computed measure.
    Returns the remaining rows and how many were dropped."""
    keep = subs.filter(~pl.col("measure_id").is_in(measures))
    return keep, subs.height - keep.height


def _fmt(value: pl.Expr) -> pl.Expr:
    return value.cast(pl.Int64).cast(pl.Utf8)


def submission_issue_expr(p: QualityRules, max_tin_level: int) -> pl.Expr:
    """Q1/Q2: why a submitted row is refused (null when it is accepted), the first that applies:
    not an ASM measure; a collection type the measure does not have (CMS's measure file: the allowed
    pairs joined as `_allowed`, the measure's types as `_types`); a negative count; met + not met +
    exceptions above the eligible population; a TIN-level row (npi blank) of a practice with more
    than `max_tin_level` clinicians or no clinician count (S5's count, joined as clinician_count)."""
    met, not_met = pl.col("performance_met"), pl.col("performance_not_met")
    exc, elig = pl.col("denominator_exceptions"), pl.col("eligible_population")
    measure, ctype = pl.col("measure_id"), pl.col("collection_type")
    required = [m for ms in p.required_measures.values() for m in ms]
    tin_level = pl.col("npi").is_null()
    return (
        pl.when(~measure.is_in(required)).then(pl.concat_str([
            pl.lit("Q1: "), measure, pl.lit(" is not an ASM measure (quality.required_measures)")]))
        .when(pl.col("_allowed").is_null()).then(pl.concat_str([
            pl.lit("Q2: "), measure, pl.lit(" has no collection type '"), ctype, pl.lit("' (CMS measure file: "),
            pl.coalesce(pl.col("_types"), pl.lit("none submittable")), pl.lit(")")]))
        .when(pl.min_horizontal(elig, met, not_met, exc) < 0).then(pl.lit("Q2: negative count"))
        .when(met + not_met + exc > elig).then(pl.concat_str([
            pl.lit("Q2: met + not met + exceptions ("), _fmt(met + not_met + exc),
            pl.lit(") exceed the eligible population ("), _fmt(elig), pl.lit(")")]))
        .when(tin_level & pl.col("clinician_count").is_null()).then(pl.lit(
            "Q2: TIN-level row of a practice without a clinician count (no clinician_count, no Part B lines in the PY)"))
        .when(tin_level & (pl.col("clinician_count") > max_tin_level)).then(pl.concat_str([
            pl.lit("Q2: TIN-level row of a practice of "), _fmt(pl.col("clinician_count")),
            pl.lit(f" clinicians (> {max_tin_level}; S5 count from "), pl.col("clinician_count_source"),
            pl.lit("): ignored")]))
        .otherwise(None))


def screen_submissions(subs: pl.DataFrame, collection_types: dict[str, tuple[str, ...]], practices: pl.DataFrame,
                       p: QualityRules, max_tin_level: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Q1/Q2 over the PY's parsed rows (`side_inputs.quality_submissions`): (accepted rows, refused rows
    with their reason, ISSUE_COLUMNS). `collection_types`: measure -> collection types it has (CMS);
    `practices`: tin, clinician_count, clinician_count_source (`final.clinician_counts`)."""
    allowed = pl.DataFrame([(m, t) for m, ts in collection_types.items() for t in ts],
                           schema={"measure_id": pl.Utf8, "collection_type": pl.Utf8}, orient="row")
    types = pl.DataFrame([(m, ", ".join(ts)) for m, ts in collection_types.items() if ts],
                         schema={"measure_id": pl.Utf8, "_types": pl.Utf8}, orient="row")
    checked = (subs.join(allowed.with_columns(pl.lit(True).alias("_allowed")), on=["measure_id", "collection_type"],
                         how="left")
               .join(types, on="measure_id", how="left")
               .join(practices.select("tin", "clinician_count", "clinician_count_source"), on="tin", how="left")
               .with_columns(submission_issue_expr(p, max_tin_level).alias("reason")))
    accepted = checked.filter(pl.col("reason").is_null()).select(subs.columns)
    issues = checked.filter(pl.col("reason").is_not_null()).select(
        "performance_year", "tin", "npi", "measure_id", "collection_type", pl.lit(SOURCE_FILE).alias("source_file"),
        "source_row", pl.col("reason").str.extract(r"^(Q\d)").alias("rule"), "reason")
    return accepted, issues.cast(ISSUE_COLUMNS).sort("source_row")


def measure_rates(subs: pl.DataFrame, p: QualityRules) -> pl.DataFrame:
    """Q2-Q4 per submitted row (participant or TIN, measure, collection type).

    performance_rate = met / (met + not met)                          (Q2)
    data_completeness = (met + not met + exceptions) / eligible pop.   (Q3: >= 75% to earn points)
    cases = met + not met                                              (Q4: >= 20 to earn points)
    """
    met, not_met = pl.col("performance_met").fill_null(0), pl.col("performance_not_met").fill_null(0)
    exc, elig = pl.col("denominator_exceptions").fill_null(0), pl.col("eligible_population")
    cases = met + not_met
    out = subs.with_columns(
        cases.alias("cases"),
        pl.when(cases > 0).then(met / cases).otherwise(None).alias("performance_rate"),
        pl.when(elig > 0).then((met + not_met + exc) / elig).otherwise(None).alias("data_completeness"),
    )
    return classify_rates(out, p)


def classify_rates(rows: pl.DataFrame, p: QualityRules) -> pl.DataFrame:
    """Q1, Q3, Q4 flags and the Q5 orientation of rows that already hold cases, performance_rate and
    data_completeness (submitted rows through `measure_rates`, Q492 rows computed from Part A by Q6)."""
    cohort_of = p.cohort_of_measure()
    out = rows.with_columns(
        pl.col("measure_id").str.strip_chars().str.to_uppercase(),
        pl.col("collection_type").str.strip_chars().str.to_lowercase(),
        pl.when(pl.col("npi").str.strip_chars() == "").then(None).otherwise(pl.col("npi")).alias("npi"),
    ).with_columns(
        pl.col("measure_id").replace_strict(cohort_of, default=None, return_dtype=pl.Utf8).alias("cohort"),
    ).with_columns(
        (pl.col("data_completeness").fill_null(0) >= p.min_data_completeness).alias("meets_completeness"),
        (pl.col("cases") >= p.min_cases).alias("meets_case_minimum"),
        pl.col("measure_id").is_in(list(p.lower_is_better)).alias("lower_is_better"),
        pl.col("measure_id").is_in([m for c in p.required_measures for m in p.scored_measures(c)]).alias(
            "measure_scored"),
    )
    return rate_flags(out)


def reclassify_rates(rows: pl.DataFrame, p: QualityRules) -> pl.DataFrame:
    """`classify_rates` for rows whose rate changed: only `rate_flags` when they carry its flags already."""
    return rate_flags(rows) if set(RATE_FREE_FLAGS) <= set(rows.columns) else classify_rates(rows, p)


def rate_flags(rows: pl.DataFrame) -> pl.DataFrame:
    """The columns of `classify_rates` that depend on the row's rate: in_benchmark (Q3, Q4, scored, a rate)
    and the Q5 oriented rate. V3 redraws only the rate of rows `classify_rates` flagged once, so it calls
    this on its millions of drawn rows instead of normalising their codes again."""
    return rows.with_columns(
        (pl.col("meets_completeness") & pl.col("meets_case_minimum") & pl.col("measure_scored")
         & pl.col("performance_rate").is_not_null()).alias("in_benchmark"),
        # Q5: lower-is-better measures are compared on negated rates.
        pl.when(pl.col("lower_is_better")).then(-pl.col("performance_rate")).otherwise(
            pl.col("performance_rate")).alias("oriented_rate"),
    )


def with_peer_pool(rates: pl.DataFrame, participants: pl.DataFrame) -> pl.DataFrame:
    """Q5/B1: `in_peer_pool` per rate row: the row belongs to the benchmark's pool, the B1 peer pool of
    its cohort (`participants` with eligible and meets_case_minimum), one rate per participant,
    measure and collection type. A participant's own row (npi given) counts when the participant is
    in the pool. A TIN-level row counts ONCE for its practice, when the TIN has a pool participant of
    the measure's cohort without an own row of the same measure and collection type [DEFAULT: an own
    row takes precedence], never once per clinician."""
    keys = ["performance_year", "cohort", "tin"]
    pool = participants.filter(pl.col("eligible") & pl.col("meets_case_minimum")).select(*keys, "npi").unique()
    rates = rates.with_row_index("_r")
    own = rates.filter(pl.col("npi").is_not_null())
    own_in = own.join(pool, on=[*keys, "npi"], how="semi").select("_r")
    own_keys = own.select(*keys, "npi", "measure_id", "collection_type").unique()
    tin_in = (rates.filter(pl.col("npi").is_null()).select("_r", *keys, "measure_id", "collection_type")
              .join(pool, on=keys, how="inner")
              .join(own_keys, on=[*keys, "npi", "measure_id", "collection_type"], how="anti")
              .select("_r").unique())
    members = pl.concat([own_in, tin_in])["_r"].implode()
    return rates.with_columns(pl.col("_r").is_in(members).alias("in_peer_pool")).drop("_r")


def quality_benchmarks(rates: pl.DataFrame, p: QualityRules, by: tuple[str, ...] = ()) -> pl.DataFrame:
    """Q5: decile boundaries d1..d9 per cohort, measure and collection type over this PY's rows of the
    peer pool (`with_peer_pool`: B1 participants, one rate each) that pass Q3 and Q4. Boundaries are quantiles 10%..90% of the oriented rates (linear interpolation
    [DEFAULT]), stored in natural units: for lower-is-better measures d1 is the highest (worst) rate.
    `worst_rate` (the pool's worst rate) is the lower end of decile 1 for the partial point.
    `by`: extra key columns of `rates` (V3: the bootstrap draw), one set of boundaries per value.
    """
    keys = [*BENCH_KEYS, *by]
    pool = rates.filter(pl.col("in_benchmark") & pl.col("in_peer_pool"))
    agg = pool.group_by(keys).agg(
        pl.len().alias("participants"),
        pl.col("lower_is_better").first(),
        pl.col("oriented_rate").min().alias("_b0"),
        *[pl.col("oriented_rate").quantile(k / 10, interpolation=p.quantile_method).alias(f"_b{k}")
          for k in range(1, 10)],
    )
    sign = pl.when(pl.col("lower_is_better")).then(-1.0).otherwise(1.0)
    return agg.with_columns(
        pl.when(pl.col("lower_is_better")).then(pl.lit("lower_is_better")).otherwise(pl.lit("higher_is_better"))
        .alias("direction"),
        (sign * pl.col("_b0")).alias("worst_rate"),
        *[(sign * pl.col(f"_b{k}")).alias(f"d{k}") for k in range(1, 10)],
    ).select([*keys, "participants", "direction", "worst_rate", *DECILES]).sort(keys)


def measure_points(rates: pl.DataFrame, benchmarks: pl.DataFrame, p: QualityRules,
                   by: tuple[str, ...] = (), provenance: bool = True) -> pl.DataFrame:
    """Q3-Q5 points per submitted row.

    Decile d = 1 + number of boundaries b_k <= v (v the oriented rate): a rate equal to a boundary
    belongs to the better decile (quality.decile_boundary_goes_to = "better"; "worse" counts b_k < v),
    and tied boundaries push it past all of them. Decile 10 earns quality.decile_10_points (10.0);
    otherwise points = d + 0.9 x (v - b_(d-1)) / (b_d - b_(d-1)), with b_0 the pool's worst rate and
    the position clamped to [0, 1] (0 when the decile has zero width). Failing Q3 or Q4: 0 points.
    `by`: extra key columns of both frames (V3: the bootstrap draw's benchmarks). `provenance` false: the
    points only, without the decile and zero reason (V3's many draws).
    """
    joined = rates.join(benchmarks.drop(["participants", "direction"]), on=[*BENCH_KEYS, *by], how="left")
    return points_on_boundaries(joined, p, provenance)


def points_on_boundaries(joined: pl.DataFrame, p: QualityRules, provenance: bool = True) -> pl.DataFrame:
    """`measure_points` on rows that already carry their benchmark's worst_rate and d1..d9 (null: no benchmark):
    the Q3-Q5 rule itself (Q5's arithmetic in `decile_points`), for callers that attach the boundaries without
    a join (V3's draws)."""
    b = orient(joined.select("worst_rate", *DECILES).cast(pl.Float64).to_numpy(), joined["lower_is_better"].to_numpy())
    decile, points = decile_points(joined["oriented_rate"].cast(pl.Float64).to_numpy(), b, p)
    joined = joined.with_columns(pl.Series("decile", decile, dtype=pl.Int32), pl.Series("_points", points).fill_nan(None))
    points = pl.col("_points")
    zero_reasons = (*ROW_ZERO_REASONS, (pl.col("d1").is_null(), "no_benchmark"))
    boundaries = ["_points", "worst_rate", *DECILES]
    if not provenance:
        zero = pl.any_horizontal(cond for cond, _ in zero_reasons)
        return joined.with_columns(pl.when(zero).then(0.0).otherwise(points).cast(pl.Float64).alias("points")).drop(
            *boundaries, "decile")
    reason = pl.when(zero_reasons[0][0]).then(pl.lit(zero_reasons[0][1]))
    for cond, why in zero_reasons[1:]:
        reason = reason.when(cond).then(pl.lit(why))
    return joined.with_columns(reason.otherwise(None).alias("zero_reason")).with_columns(
        pl.when(pl.col("zero_reason").is_null()).then(points).otherwise(0.0).cast(pl.Float64).alias("points"),
        pl.when(pl.col("zero_reason").is_null()).then(pl.col("decile")).otherwise(None).alias("decile"),
    ).drop(boundaries)


ROW_ZERO_REASONS = ((~pl.col("measure_scored"), "measure_not_scored"),  # Q1; then no benchmark (Q5)
                    (~pl.col("meets_completeness"), "Q3_completeness_below_minimum"),
                    (~pl.col("meets_case_minimum"), "Q4_below_case_minimum"))


def orient(values: np.ndarray, lower_is_better: np.ndarray) -> np.ndarray:
    """Q5: lower-is-better measures are compared on negated values (`values`: one row per row of
    `lower_is_better`, any trailing axes), as `rate_flags` orients the rates."""
    lower = lower_is_better.reshape(lower_is_better.shape + (1,) * (values.ndim - 1))
    return np.where(lower, -values, values)


def decile_points(v: np.ndarray, b: np.ndarray, p: QualityRules) -> tuple[np.ndarray, np.ndarray]:
    """Q5 on arrays (`points_on_boundaries`' arithmetic): the decile and points of oriented rates `v` (any shape;
    NaN: none) on oriented boundaries `b` (a last axis of 10: the worst rate b_0, then b_1..b_9; NaN: none;
    broadcast against `v`). A missing boundary is never passed; a missing rate gets decile 1 and no points."""
    with np.errstate(invalid="ignore", divide="ignore"):
        passes = np.greater_equal if p.boundary_goes_to == "better" else np.greater
        shape = np.broadcast_shapes(v.shape, b.shape[:-1])
        decile = np.ones(shape, np.int32)
        for k in range(1, 10):
            decile += passes(v, b[..., k])
        lower, upper = np.full(shape, np.nan), np.full(shape, np.nan)  # b_(d-1); b_d (none for decile 10)
        for k in range(10):
            np.copyto(lower, np.broadcast_to(b[..., k], shape), where=decile == k + 1)
            np.copyto(upper, np.broadcast_to(b[..., k], shape), where=decile == k)
        position = np.where(upper > lower, np.clip((v - lower) / (upper - lower), 0.0, 1.0), 0.0)
        points = np.where(decile == 10, float(p.decile_10_points), decile + p.partial_point_span * position)
    return decile, points


def best_points_per_measure(participants: pl.DataFrame, points: pl.DataFrame, p: QualityRules,
                            by: tuple[str, ...] = (), provenance: bool = True) -> pl.DataFrame:
    """Q7 one home: a participant's points on a measure = the best over its own (TIN/NPI) rows, its
    TIN-level rows (npi blank, Q2) and collection types [DEFAULT]. One row per (participant, submitted
    measure) with the row that gave the points (collection type, rate, completeness, zero reason; ties:
    own row before TIN-level, then collection type) and `non_claims_ok` (S6: some non-claims row of
    the measure meets Q3). Reports and Q7 read this table; nothing recomputes it. `by`: extra key columns
    of both frames (V3: the bootstrap draw), one best row per value. `provenance` false: only what Q7 and
    S6 count (points, measure_scored, non_claims_ok), without which row gave them (V3's many draws)."""
    keys = [*PARTICIPANT, *by]
    base = participants.select(keys).unique()
    non_claims = (~pl.col("collection_type").is_in(list(p.claims_collection_types))) & pl.col("meets_completeness")
    if not provenance:  # the best points are the highest: the same value the row order below picks first
        lazy = points.lazy().select(*keys, "measure_id", "points", "measure_scored", non_claims.alias("non_claims_ok"))
        mine = base.lazy()
        rows = pl.concat([lazy.filter(pl.col("npi").is_not_null()).join(mine, on=keys, how="inner"),
                          lazy.filter(pl.col("npi").is_null()).drop("npi").join(
                              mine, on=["performance_year", "cohort", "tin", *by], how="inner").select(
                              *keys, "measure_id", "points", "measure_scored", "non_claims_ok")])
        return rows.group_by([*keys, "measure_id"]).agg(
            pl.col("points").max(), pl.col("measure_scored").first(), pl.col("non_claims_ok").any()).collect()
    own = points.filter(pl.col("npi").is_not_null()).join(base, on=keys, how="inner").with_columns(
        pl.lit("participant").alias("submitted_as"))
    tin_level = (points.filter(pl.col("npi").is_null()).drop("npi")
                 .join(base, on=["performance_year", "cohort", "tin", *by], how="inner")
                 .with_columns(pl.lit("tin").alias("submitted_as")))
    rows = pl.concat([own, tin_level.select(own.columns)], how="vertical_relaxed")
    return (rows.with_columns(non_claims.any().over([*keys, "measure_id"]).alias("non_claims_ok"))
            .sort([*keys, "measure_id", "points", "submitted_as", "collection_type"],
                  descending=[False] * (len(keys) + 1) + [True, False, False])
            .group_by([*keys, "measure_id"], maintain_order=True).first()
            .select(*keys, "measure_id", "points", "collection_type", "submitted_as", "performance_rate",
                    "data_completeness", "cases", "decile", "zero_reason", "measure_scored", "non_claims_ok"))


def participant_quality(participants: pl.DataFrame, best: pl.DataFrame, p: QualityRules,
                        by: tuple[str, ...] = ()) -> pl.DataFrame:
    """Q7 + the quality half of S6 for each participant (performance_year, cohort, tin, npi), from the
    best points per measure (`best_points_per_measure`). Unsubmitted scored measures earn 0.
    quality_score = sum points / (10 x number of scored required measures of the cohort).
    has_non_claims_submission (S6): a non-claims submission of a cohort measure meeting Q3.
    `by`: extra key columns of both frames (V3: the bootstrap draw; `participants` carries them too).
    """
    keys = [*PARTICIPANT, *by]
    base = participants.select(keys).unique()
    n_scored = {c: len(p.scored_measures(c)) for c in p.required_measures}
    agg = best.group_by(keys).agg(
        pl.col("points").filter(pl.col("measure_scored")).sort().sum().alias("quality_points"),
        pl.col("measure_scored").sum().alias("measures_submitted"),
        pl.col("non_claims_ok").any().alias("has_non_claims_submission"),
    )
    out = base.join(agg, on=keys, how="left").with_columns(
        pl.col("quality_points").fill_null(0.0),
        pl.col("measures_submitted").fill_null(0).cast(pl.Int64),
        pl.col("has_non_claims_submission").fill_null(False),
        pl.col("cohort").replace_strict(n_scored, default=0, return_dtype=pl.Int64).alias("measures_scored"),
    )
    return out.with_columns(
        pl.when(pl.col("measures_scored") > 0)
        .then(pl.col("quality_points") / (10.0 * pl.col("measures_scored")))
        .otherwise(0.0).alias("quality_score")
    )


def measure_breakdown(participants: pl.DataFrame, best: pl.DataFrame, p: QualityRules,
                      part_a_measures: tuple[str, ...], part_a_supplied: bool) -> pl.DataFrame:
    """Q7 as a table: one row per participant and required measure of its cohort (Q1), with the points
    it counts in Q7 and why. status: 'scored'; a Q3/Q4/Q5 zero reason; 'not_submitted' (0 points);
    'no_attributed_episodes' (a Part A measure with no rate); 'not_scored' (Q1/Q6: the measure does not
    count this run, e.g. Q492 without Part A claims, with `status_reason`)."""
    keys = PARTICIPANT
    required = pl.DataFrame([(c, m) for c, ms in p.required_measures.items() for m in ms],
                            schema={"cohort": pl.Utf8, "measure_id": pl.Utf8}, orient="row")
    grid = participants.select(keys).unique().join(required, on="cohort", how="inner")
    out = grid.join(best.drop("non_claims_ok"), on=[*keys, "measure_id"], how="left")
    not_scored = pl.col("measure_id").is_in(list(p.not_scored_measures))
    is_part_a = pl.col("measure_id").is_in(list(part_a_measures))
    status = (pl.when(not_scored).then(pl.lit("not_scored"))
              .when(pl.col("points").is_null() & is_part_a).then(pl.lit("no_attributed_episodes"))
              .when(pl.col("points").is_null()).then(pl.lit("not_submitted"))
              .when(pl.col("zero_reason").is_not_null()).then(pl.col("zero_reason"))
              .otherwise(pl.lit("scored")))
    reason = (pl.when(not_scored & is_part_a & pl.lit(not part_a_supplied))
              .then(pl.lit("Q6: no Part A claims in this run"))
              .when(not_scored).then(pl.lit("Q1: not scored in this run")).otherwise(None))
    return out.with_columns(
        status.alias("status"), reason.alias("status_reason"),
        pl.when(not_scored).then(None).otherwise(pl.col("points").fill_null(0.0)).alias("points"),
    ).sort([*keys, "measure_id"])
