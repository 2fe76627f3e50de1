"""Per-TIN Excel workbook for practice managers (openpyxl): sheets scores, measures, episodes, lines, each a
table of the final tables' rows for that TIN (no beneficiary ids), with a header row, frozen panes and
filters."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

HEADER_FILL = PatternFill("solid", fgColor="EEF3F8")


def _cell(v):
    if isinstance(v, float) and v != v:  # NaN
        return None
    if isinstance(v, (list, dict)):
        return str(v)
    return v


def _sheet(wb: Workbook, title: str, df: pl.DataFrame) -> None:
    ws = wb.create_sheet(title)
    ws.append(df.columns)
    for c in ws[1]:
        c.font, c.fill = Font(bold=True), HEADER_FILL
    for row in df.iter_rows():
        ws.append([_cell(v) for v in row])
    for i, name in enumerate(df.columns, start=1):
        ws.column_dimensions[get_column_letter(i)].width = min(40, max(10, len(name) + 2))
        if df.height and df.schema[name] == pl.Date:
            for cell in ws.iter_cols(min_col=i, max_col=i, min_row=2):
                for c in cell:
                    if isinstance(c.value, date):
                        c.number_format = "yyyy-mm-dd"
    ws.freeze_panes = "A2"
    if df.height:
        ws.auto_filter.ref = ws.dimensions


def write_workbook(path: Path, sheets: dict[str, pl.DataFrame]) -> None:
    wb = Workbook()
    wb.remove(wb.active)
    for title, df in sheets.items():
        _sheet(wb, title, df)
    wb.save(path)


def workbook_text(path: Path) -> str:
    """Every cell value of a workbook as text (the privacy scan reads it)."""
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    parts = []
    for ws in wb.worksheets:
        parts.append(ws.title)
        for row in ws.iter_rows(values_only=True):
            parts.extend(str(v) for v in row if v is not None)
    wb.close()
    return "\n".join(parts)
