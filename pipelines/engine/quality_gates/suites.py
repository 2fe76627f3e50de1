"""Great Expectations 1.x suites, one per asset in `expectations/<asset>.json`, and what both check
engines share (format: expectations/README.md).

Every expectation says in its `meta.engine` where it runs: "duckdb" (default: the whole Parquet table,
`duckdb_engine.py`) or "gx" (Great Expectations on a repeatable sample, `gx_engine.py`). GX `severity`
"critical" is a blocking ERROR; "warning"/"info" are WARN, recorded and never blocking. Example values
never come from private columns (`PRIVATE_COLUMN`: beneficiary ids, raw rows, names, addresses).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from pipelines.engine.paths import EXPECTATIONS_DIR

PRIVATE_COLUMN = re.compile(r"bene|^raw$|name|address", re.IGNORECASE)
"""Columns whose values never leave the table (data-contracts: ids only in line/episode tables)."""
ENGINES = ("duckdb", "gx")
EXAMPLES = 3


class SuiteError(ValueError):
    """A suite file that cannot be used (bad JSON, unknown engine or type, private column sampled)."""


@dataclass
class Outcome:
    """One evaluated expectation (one dq_results row)."""
    name: str
    type: str
    engine: str
    severity: str  # ERROR | WARN
    passed: bool
    observed: str = ""
    unexpected_count: int | None = None
    element_count: int | None = None
    examples: list = field(default_factory=list)
    error: str = ""
    files: list = field(default_factory=list)  # input files of the failing rows (tables with source_file)
    more_files: int = 0  # failing files beyond `files`

    def line(self) -> str:
        if self.error:
            return f"{self.name}: could not evaluate ({self.error})"
        if self.unexpected_count is not None and self.element_count is not None:
            what = f"{self.unexpected_count:,} of {self.element_count:,} rows"
        else:
            what = f"observed {self.observed}"
        ex = f" e.g. {', '.join(str(e) for e in self.examples)}" if self.examples else ""
        return f"{self.name}: {what}{ex}{self.where()}"

    def where(self) -> str:
        """' in file F' / ' in files F, G and 3 more': where the failing rows come from (issue 21 item 5)."""
        if not self.files:
            return ""
        more = f" and {self.more_files} more" if self.more_files else ""
        return f" in file{'s' if len(self.files) + self.more_files > 1 else ''} {', '.join(self.files)}{more}"


def read_suite(asset: str, duckdb_types: frozenset[str]) -> dict:
    """The suite JSON of an asset, validated: names unique, engines known (`duckdb_types`: the expectation
    types the DuckDB engine translates), no private column in GX frames."""
    path = EXPECTATIONS_DIR / f"{asset}.json"
    try:
        suite = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SuiteError(f"{path.name}: {exc}") from None
    seen = set()
    for i, e in enumerate(suite.get("expectations", [])):
        meta = e.setdefault("meta", {})
        name = meta.setdefault("name", f"{e['type']}_{i}")
        if name in seen:
            raise SuiteError(f"{path.name}: expectation name {name!r} is used twice")
        seen.add(name)
        engine = meta.setdefault("engine", "duckdb")
        if engine not in ENGINES:
            raise SuiteError(f"{path.name}: {name}: engine must be one of {ENGINES}")
        if engine == "duckdb" and e["type"] not in duckdb_types:
            raise SuiteError(f"{path.name}: {name}: {e['type']} has no DuckDB translation; use engine gx")
        if engine == "gx":
            private = [c for c in columns_of(e) if PRIVATE_COLUMN.search(c)]
            if private or e["type"] == "unexpected_rows_expectation":
                raise SuiteError(f"{path.name}: {name}: GX frames never hold private columns or run SQL")
        if e.get("severity", "critical") not in ("critical", "warning", "info"):
            raise SuiteError(f"{path.name}: {name}: severity must be critical, warning or info")
    return suite


def available_suites() -> list[str]:
    return sorted(p.stem for p in EXPECTATIONS_DIR.glob("*.json"))


def columns_of(e: dict) -> list[str]:
    kw = e.get("kwargs", {})
    cols = [kw[k] for k in ("column", "column_A", "column_B") if k in kw]
    return cols + list(kw.get("column_list", []))


def severity(e: dict) -> str:
    return "ERROR" if e.get("severity", "critical") == "critical" else "WARN"


def public(cols: Iterable[str]) -> list[str]:
    return [c for c in cols if not PRIVATE_COLUMN.search(c)]


# Text columns whose values cannot hold an identifier (codes, reasons, file names): their example
# values are shown as they are. Every other text value is shown by its shape only.
PUBLIC_TEXT_COLUMNS = frozenset({
    "source_file", "kind", "format", "reason", "rule", "detail", "delivery_problem", "cohort", "measure_id",
    "collection_type", "status", "version_type", "service_category", "metric", "direction", "model", "source",
    "location_status", "submitted_as", "zero_reason", "item", "label",
    "completeness_problem", "amount_problem", "accepted_problem", "cohort_cost_problem",  # issue 21: gate reasons
})


def shape(text: str) -> str:
    """A text value reduced to its shape: letters A, digits 9, other characters kept
    ('1BC4D56EF78' -> '9AA9A99AA99'), so a failing check can say what a value looks like (an NPI column
    holding beneficiary ids when a delivery's columns are shifted) without printing it."""
    return "".join("A" if c.isalpha() else "9" if c.isdigit() else c for c in text)


def fmt(v: Any, column: str | None = None) -> Any:
    """An example value as metadata may show it: numbers, dates and booleans as they are; text only
    for columns that cannot hold identifiers, else its shape (no identifier in any message)."""
    if isinstance(v, (int, float, bool)) or v is None:
        return v
    if isinstance(v, str):
        return v if column in PUBLIC_TEXT_COLUMNS else shape(v)
    return str(v)
