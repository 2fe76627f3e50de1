"""What the reports read: the final tables of a run (`ReportTables`) and where a TIN's pages go."""
from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace

import polars as pl

from pipelines.engine.projection import read_history
from pipelines.engine.settings import RunSettings
from pipelines.engine.tables import PARTICIPANT


def tin_folder(tin: str) -> str:
    return re.sub(r"[^0-9A-Za-z_-]", "_", tin) or "_"


def split_by_tin(df: pl.DataFrame, column: str = "tin") -> dict[str, pl.DataFrame]:
    """`df`'s rows per TIN (`column`), as slices of one frame sorted by TIN (sorted here when it is not; the
    order within a TIN kept): no copy per TIN."""
    if not df[column].is_sorted():
        df = df.sort(column, maintain_order=True)
    out, start = {}, 0
    for n, tin in df.select(pl.col(column).rle()).unnest(column).iter_rows():
        out[tin] = df.slice(start, n)
        start += n
    return out


@dataclass
class ReportTables:
    """The final tables reports render."""

    scores: pl.DataFrame  # participant_scores + payment + specialty
    measures: pl.DataFrame  # participant_measure_points
    admissions: pl.DataFrame
    tin_summary: pl.DataFrame
    tin_drivers: pl.DataFrame
    cohort_summary: pl.DataFrame
    cohort_drivers: pl.DataFrame
    cost_benchmarks: pl.DataFrame
    quality_benchmarks: pl.DataFrame
    distribution: pl.DataFrame
    eligibility: pl.DataFrame
    projected: pl.DataFrame
    projected_measures: pl.DataFrame
    projected_cost: pl.DataFrame
    waterfall: pl.DataFrame
    projection_tins: pl.DataFrame
    history: pl.DataFrame
    levers: pl.DataFrame  # improvement_levers (what to fix, ranked per participant)
    levers_tin: pl.DataFrame  # improvement_levers_tin (what to fix, per TIN and kind of lever)
    clinician_drivers: pl.DataFrame  # clinician_cost_drivers (C3 per participant)
    _by_tin: dict = field(default_factory=dict, repr=False, compare=False)  # table -> TIN -> rows, by `of`

    def of(self, tin: str) -> "ReportTables":
        """The tables with only `tin`'s rows (tables without a `tin` column whole). Each table is split by TIN
        once, on first use: a filter per TIN over whole tables was O(TINs x rows)."""
        if not self._by_tin:
            for f in fields(self):
                df = getattr(self, f.name)
                if isinstance(df, pl.DataFrame) and "tin" in df.columns:
                    self._by_tin[f.name] = split_by_tin(df)
        return replace(self, _by_tin={}, **{name: parts.get(tin, getattr(self, name).clear())
                                            for name, parts in self._by_tin.items()})

    def only(self, tins: list[str]) -> "ReportTables":
        """The tables with only the rows of `tins`, in their order (tables without a `tin` column whole): a
        process drawing some TINs' scorecards orders, keys and splits their rows, not every TIN's."""
        mine = pl.col("tin").is_in(pl.Series(list(tins), dtype=pl.String))
        return replace(self, _by_tin={}, **{f.name: df.filter(mine) for f in fields(self)
                                            if isinstance(df := getattr(self, f.name), pl.DataFrame) and "tin" in df.columns})

    @classmethod
    def read(cls, settings: RunSettings) -> "ReportTables":
        wh = settings.warehouse
        elig = wh.read("eligibility", ["tin", "npi", "specialty", "cohort", "reason"])
        pay = wh.read("payment_adjustments").select(*PARTICIPANT, "transformed_score", "adjustment_factor",
                                                     "dollar_impact")  # partb_paid: participant_scores' (P3's B)
        scores = (wh.read("participant_scores").join(pay, on=PARTICIPANT, how="left")
                  .join(elig.select("tin", "npi", "specialty"), on=["tin", "npi"], how="left"))
        return cls(scores, wh.read("participant_measure_points"), wh.read("admission_rates"), wh.read("tin_summary"),
                   wh.read("tin_cost_drivers"), wh.read("cohort_summary"), wh.read("cohort_cost_drivers"),
                   wh.read("cost_benchmarks"), wh.read("quality_benchmarks"), wh.read("score_distribution"), elig,
                   wh.read("projected_scores"), wh.read("projected_measure_points"),
                   wh.read("projected_cost_benchmarks"), wh.read("score_waterfall"), wh.read("projection_tin_summary"),
                   read_history(settings.out_dir), wh.read("improvement_levers"),
                   wh.read("improvement_levers_tin"), wh.read("clinician_cost_drivers"))
