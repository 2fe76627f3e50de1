"""One name per figure across the reports' CSV files, Excel workbooks and index (issue 19, item 8): the
column names a practice manager or consultant reads, with the unit (how Excel formats it) and a definition
(the workbook's data-dictionary sheet). Exports rename the final tables' columns through `COLUMNS`; a
figure that appears in several exports appears under the same name in each."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str  # the header a person reads
    unit: str  # "text", "count", "currency", "percent" (a fraction: 0.09 shows 9%), "points", "date", "number"
    definition: str


def _c(name: str, unit: str, definition: str) -> Column:
    return Column(name, unit, definition)


# key: the source column (final tables / report rows); value: how exports show it
COLUMNS: dict[str, Column] = {
    "performance_year": _c("Performance year", "count", "The year whose claims are measured (paid two years later)."),
    "tin": _c("TIN", "text", "Taxpayer identification number of the practice."),
    "npi": _c("NPI", "text", "National provider identifier of the clinician."),
    "cohort": _c("Cohort", "text", "HF = heart failure; LBP = low back pain."),
    "specialty": _c("Specialty", "text", "The clinician's Medicare specialty."),
    "status": _c("Status", "text", "Whether the clinician has an ASM score, in words."),
    "pool_final_score": _c("Peer-pool estimate: final score", "points",
                           "Final score (0-100) with benchmarks from this run's peer pool."),
    "pool_dollar_impact": _c("Peer-pool estimate: dollars", "currency",
                             "Payment adjustment x Part B paid, with the peer-pool benchmarks."),
    "projected_final_score": _c("CMS-benchmark estimate: final score", "points",
                                "Final score (0-100) with CMS's latest published benchmarks."),
    "projected_dollar_impact": _c("CMS-benchmark estimate: dollars", "currency",
                                  "Payment adjustment x Part B paid, with CMS's published benchmarks."),
    "partb_paid": _c("Part B paid", "currency", "Medicare Part B paid for the clinician's services in the year."),
    # the reports index (index.py): one row per TIN and cohort
    "pool_dollar_impact_low": _c("Peer-pool estimate: dollars, low", "currency",
                                 "Low end of the peer-pool estimate's dollars' interval (V3, bootstrap)."),
    "pool_dollar_impact_high": _c("Peer-pool estimate: dollars, high", "currency",
                                  "High end of the peer-pool estimate's dollars' interval (V3, bootstrap)."),
    "projected_dollar_impact_low": _c("CMS-benchmark estimate: dollars, low", "currency",
                                      "Low end of the CMS-benchmark estimate's dollars' interval (V3, bootstrap)."),
    "projected_dollar_impact_high": _c("CMS-benchmark estimate: dollars, high", "currency",
                                       "High end of the CMS-benchmark estimate's dollars' interval (V3, bootstrap)."),
    "lead": _c("Scorecard leads with", "text",
               "The estimate the TIN's scorecard leads with (V4): the peer-pool estimate when the cohort's peer "
               "pool is large enough, else the CMS-benchmark estimate."),
    "tin_statuses": _c("Clinicians by status", "text",
                       "The TIN's clinicians in the cohort by status, in words; for a TIN with no ASM participant, "
                       "why."),
    "dollars_at_risk": _c("Dollars at risk", "currency",
                          "What the TIN stands to lose in the cohort: max(0, -dollars) of the estimate its scorecard "
                          "leads with; 0 when it gains. The index is ordered by it, ties by Part B paid."),
    "share_of_partb": _c("Share of Part B", "percent",
                         "The led estimate's dollars as a share of the Part B paid they are priced on (the scored "
                         "clinicians'; in an in-year run the CMS-benchmark estimate scales it to the whole year)."),
    "lead_mean_final_score": _c("Mean final score", "points",
                                "Mean final score of the TIN's scored clinicians in the cohort, in the estimate its "
                                "scorecard leads with."),
    "asm_clinicians": _c("Clinicians in ASM", "count",
                         "The TIN's clinicians in the cohort's ASM, scored or not (not those out of ASM: G2-G4)."),
    "scored_clinicians": _c("Clinicians scored", "count",
                            "Clinicians the led estimate gives a final score (Scored, or Scored 0: minimum "
                            "submission not met)."),
    "on_track": _c("Clinicians on track", "count",
                   "In-year run (V5): clinicians below the case minimum today, on track to reach it with the open "
                   "episodes expected to close."),
    "at_risk_clinicians": _c("Clinicians at risk", "count",
                             "Scored clinicians whose led estimate says they lose (the whole interval below $0)."),
    "scored_partb_paid": _c("Part B paid, scored clinicians", "currency",
                            "Medicare Part B paid in the year for the TIN's scored clinicians in the cohort."),
    "scorecard": _c("Scorecard", "text", "The TIN's scorecard page, relative to the reports folder."),
}


def header(column: str) -> str:
    """The name exports show for a source column (the column itself when it has no entry yet)."""
    c = COLUMNS.get(column)
    return c.name if c else column
