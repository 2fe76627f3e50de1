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
}


def header(column: str) -> str:
    """The name exports show for a source column (the column itself when it has no entry yet)."""
    c = COLUMNS.get(column)
    return c.name if c else column
