"""What the reports read: the final tables of a run (`ReportTables`) and where a TIN's pages go."""
from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from pipelines.engine.projection import read_history
from pipelines.engine.settings import RunSettings
from pipelines.engine.tables import PARTICIPANT


def tin_folder(tin: str) -> str:
    return re.sub(r"[^0-9A-Za-z_-]", "_", tin) or "_"


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
