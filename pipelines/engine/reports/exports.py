"""A TIN folder's exports: scorecard.csv (a row per clinician billing under the TIN), scorecard.xlsx (sheets
Clinicians, the CSV's rows under the same headers; Measures; Episodes, with expected cost, O/E and excess cost;
Data dictionary) and lines.csv (every listed episode line: too many for a sheet, the dictionary points to it).

Built for many TINs at once in Polars (`build_exports`), then split per TIN. Headers, units and definitions
come from columns.py, codes are shown in words (words.py), values are rounded per unit (currency to cents,
points to 2 decimals, shares to 4). No beneficiary id is read here."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import polars as pl

from pipelines.engine.methodology import Methodology
from pipelines.engine.reports import words
from pipelines.engine.reports.columns import COLUMNS, UNITS, Column, measure_columns
from pipelines.engine.reports.excel import write_workbook
from pipelines.engine.reports.inputs import split_by_tin
from pipelines.engine.tables import PARTICIPANT

CLINICIANS = ["performance_year", "tin", "npi", "cohort", "specialty", "specialty_code", "status", "status_code",
              "status_reason", "episodes", "case_status_words", "lead",
              "pool_final_score", "pool_final_score_low", "pool_final_score_high", "pool_factor", "pool_factor_low",
              "pool_factor_high", "pool_dollar_impact", "pool_dollar_impact_low", "pool_dollar_impact_high",
              "pool_sign", "projected_final_score", "projected_final_score_low", "projected_final_score_high",
              "projected_factor", "projected_factor_low", "projected_factor_high", "projected_dollar_impact",
              "projected_dollar_impact_low", "projected_dollar_impact_high", "projected_sign",
              "measure_score", "measure_score_low", "measure_score_high", "pool_cost_points", "projected_cost_points",
              "pool_quality_score", "projected_quality_score", "quality_points", "measures_scored", "ia_adjustment",
              "pi_adjustment", "complex_bonus", "small_practice_bonus", "transformed_score", "partb_paid",
              "peer_pool_size", "small_pool", "cost_basis", "pool_source", "quality_source", "cost_average_source",
              "cost_spread_source"]
MEASURES = ["tin", "npi", "cohort", "measure", "measure_id", "collection_type", "submitted_as", "rate",
            "data_completeness", "cases", "pool_points", "pool_decile", "pool_status", "projected_points",
            "projected_decile", "projected_status", "source", "cms_performance_year", "benchmark_year", "is_topped_out",
            "no_cms_benchmark_reason"]
EPISODES = ["tin", "npi", "cohort", "episode_id", "trigger_date", "start_date", "end_date", "episode_status", "share",
            "observed_cost", "partb_cost", "parta_cost", "observed_cost_winsorized", "expected_cost",
            "observed_to_expected", "excess_cost", "lines", "counts_for_scoring", "note"]
LINES = ["episode_id", "service_date", "episode_day", "part", "code", "service_category", "billed_by", "cost_amount",
         "claim_control_number", "line_number", "source_file", "source_row"]
SUBMITTED_AS = {"participant": "clinician", "tin": "whole TIN"}
LINES_FILE = "lines.csv"


def _words(col: str, fn) -> pl.Expr:
    """A code column in words: `fn` applied once per distinct value (a lookup, not a call per row); nulls stay."""
    return pl.col(col).map_batches(
        lambda s: s.replace_strict({v: fn(v) for v in s.drop_nulls().unique().to_list()}, default=None,
                                   return_dtype=pl.String), return_dtype=pl.String)


def _rounded(df: pl.DataFrame, columns: dict[str, Column]) -> pl.DataFrame:
    """Floats rounded to their unit's decimals (counts and years as whole numbers)."""
    out = []
    for name, dtype in df.schema.items():
        digits = UNITS[columns[name].unit][1]
        c = pl.col(name)
        if isinstance(dtype, pl.Decimal):
            c = c.cast(pl.Float64)
        if digits is not None and (dtype.is_float() or isinstance(dtype, pl.Decimal)):
            c = c.round(digits).cast(pl.Int64, strict=False) if digits == 0 else c.round(digits)
        out.append(c)
    return df.select(out)


def _clinicians(t, m: Methodology, py: int, measures: list[str], basis: str, tins: list[str]) -> pl.DataFrame:
    """Participants (participant_scores, payment, projected_scores) and the TINs' other clinicians (not in ASM)."""
    mine = pl.col("tin").is_in(tins)
    scores = t.scores.filter(mine)
    projected = t.projected.filter(mine).select(
        *PARTICIPANT, "lead", "case_status_words", "in_year", "peer_pool_size", "pool_source", "quality_source",
        "cost_average_source", "cost_spread_source", "measure_score_low", "measure_score_high",
        *[c for c in CLINICIANS if c.startswith(("pool_", "projected_")) and c not in ("pool_source",)])
    pm = _measure_words(t.projected_measures.filter(mine), m)
    per_measure = pm.group_by(PARTICIPANT).agg(
        *[pl.col(v).filter(pl.col("measure_id") == mm).first().alias(f"{v}:{mm}")
          for mm in measures for v in ("pool_points", "projected_points", "pool_status")])
    small = m.benchmarks.small_pool_participants
    rows = (scores.join(projected, on=PARTICIPANT, how="left").join(per_measure, on=PARTICIPANT, how="left")
            .with_columns(pl.col("specialty").alias("specialty_code"), pl.col("status").alias("status_code"),
                          pl.when(pl.col("in_year")).then(pl.col("case_status_words")).alias("case_status_words"),
                          pl.col("lead").replace_strict(words.ESTIMATES, default=None),
                          (pl.col("peer_pool_size") < small).alias("small_pool"), pl.lit(0).alias("_others")))
    known = scores.select("tin", "npi").unique()
    others = (t.eligibility.filter(mine).join(known, on=["tin", "npi"], how="anti")
              .select("tin", "npi", "cohort", pl.col("specialty").alias("specialty_code"),
                      pl.lit("not_in_asm").alias("status_code"), pl.col("reason").alias("status_reason"),
                      pl.lit(py, pl.Int64).alias("performance_year"), pl.lit(1).alias("_others")))
    keys = [*CLINICIANS, *[k for mm in measures for k in measure_columns(mm)]]
    both = pl.concat([rows, others], how="diagonal_relaxed").sort("tin", "_others", "cohort", "npi", nulls_last=True)
    both = both.with_columns(
        _words("specialty_code", words.specialty).alias("specialty"),
        _words("status_code", lambda c: words.status(c, m)).alias("status"),
        _words("status_reason", words.reason).alias("status_reason"),
        pl.lit(basis).alias("cost_basis"))
    return both.select([pl.col(k) if k in both.columns else pl.lit(None, pl.String).alias(k) for k in keys])


def _measure_words(pm: pl.DataFrame, m: Methodology) -> pl.DataFrame:
    """projected_measure_points with both statuses in words, per (status, reason): Q6's depend on the reason."""
    for col in ("pool_status", "projected_status"):
        pairs = pm.select(col, "status_reason").unique()
        pairs = pairs.with_columns(pl.Series("words", [words.measure_status(c, m, r) for c, r in pairs.iter_rows()],
                                             dtype=pl.String))
        pm = (pm.join(pairs, on=[col, "status_reason"], how="left", nulls_equal=True, maintain_order="left")
              .with_columns(pl.col("words").alias(col)).drop("words"))
    return pm


def _measures(t, m: Methodology, tins: list[str]) -> pl.DataFrame:
    pm = _measure_words(t.projected_measures.filter(pl.col("tin").is_in(tins)), m).sort("tin", "cohort", "npi",
                                                                                       "measure_id")
    return pm.with_columns(
        _words("measure_id", words.measure_label).alias("measure"),
        _words("collection_type", words.collection_type), words.rate_in_unit(),
        pl.col("submitted_as").replace_strict(SUBMITTED_AS, default=pl.col("submitted_as")),
    ).select(MEASURES)


@dataclass
class Exports:
    """The export frames of some TINs, rounded, under the headers people read, split per TIN."""

    columns: dict[str, Column]  # every key of these frames -> its column
    clinician_keys: list[str]
    parts: dict[str, dict[str, pl.DataFrame]]  # kind -> TIN -> rows
    empty: dict[str, pl.DataFrame]  # kind -> no rows, same columns

    def frame(self, kind: str, tin: str) -> pl.DataFrame:
        return self.parts[kind].get(tin, self.empty[kind])

    @cached_property
    def units(self) -> dict[str, str]:
        """Header -> unit (the workbook's number formats)."""
        return {c.name: c.unit for c in self.columns.values()}

    @cached_property
    def dictionary(self) -> pl.DataFrame:
        """Every column of every sheet, and of lines.csv: name, unit, definition."""
        rows = [(where, self.columns[k]) for where, keys in (("Clinicians (and scorecard.csv)", self.clinician_keys),
                                                             ("Measures", MEASURES), ("Episodes", EPISODES),
                                                             (f"{LINES_FILE} (beside this workbook)", LINES))
                for k in keys]
        return pl.DataFrame({"Sheet or file": [w for w, _ in rows], "Column": [c.name for _, c in rows],
                             "Unit": [c.unit for _, c in rows], "Definition": [c.definition for _, c in rows]})


def _split(df: pl.DataFrame, by: str, columns: dict[str, Column]) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """Rounded, renamed and split by TIN (column `by`, dropped unless it is the frame's own `tin`), once for
    all the TINs; and the frame with no rows."""
    df = _rounded(df, columns | {"report_tin": COLUMNS["tin"]})
    key = columns["tin"].name if by == "tin" else by
    df = df.rename({k: columns[k].name for k in df.columns if k != by or by == "tin"})
    parts = split_by_tin(df, key)
    if by != "tin":
        parts = {tin: part.drop(key) for tin, part in parts.items()}
    return parts, (df if by == "tin" else df.drop(key)).clear()


def build_exports(t, m: Methodology, py: int, measures: list[str], basis: str, tins: list[str],
                  episodes: pl.DataFrame, lines: pl.DataFrame) -> Exports:
    """`episodes`: episodes.participant_episodes of `tins`; `lines`: episodes.listed_lines of those."""
    columns = dict(COLUMNS)
    for mm in measures:
        columns.update(measure_columns(mm))
    clinicians = _clinicians(t, m, py, measures, basis, tins)
    eps = (episodes.rename({"status": "episode_status"}).select(EPISODES) if episodes.height else
           pl.DataFrame(schema={k: pl.String for k in EPISODES}))
    listed = lines.rename({"source": "part"}).select("report_tin", *LINES)
    frames = {"clinicians": (clinicians, "tin"), "measures": (_measures(t, m, tins), "tin"), "episodes": (eps, "tin"),
              "lines": (listed, "report_tin")}
    split = {kind: _split(df, by, columns) for kind, (df, by) in frames.items()}
    return Exports(columns, list(clinicians.columns), {k: v[0] for k, v in split.items()},
                   {k: v[1] for k, v in split.items()})


def write_exports(x: Exports, tin: str, folder: Path, about: list[tuple[str, str]] | None = None,
                  notices: dict[str, str] | None = None, written: dict | None = None) -> None:
    """scorecard.csv, lines.csv and scorecard.xlsx of one TIN (`about`, `notices`: excel.write_workbook's). The
    CSV texts are kept in `written` (path -> text: privacy.Written), when given."""
    clinicians = x.frame("clinicians", tin)
    for name, df in (("scorecard.csv", clinicians), (LINES_FILE, x.frame("lines", tin))):
        if written is None:
            df.write_csv(folder / name)
        else:
            text = df.write_csv()
            (folder / name).write_bytes(text.encode())
            written[folder / name] = text
    write_workbook(folder / "scorecard.xlsx", {
        "Clinicians": clinicians, "Measures": x.frame("measures", tin), "Episodes": x.frame("episodes", tin),
        "Data dictionary": x.dictionary}, x.units, about=about, notices=notices)
