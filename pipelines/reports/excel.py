"""Per-TIN Excel workbook for practice managers (openpyxl, write-only: streams rows): sheets scores,
measures, episodes, lines, each a table of the final tables' rows for that TIN (no beneficiary ids), with a
bold header row and frozen panes."""
from __future__ import annotations

import zipfile
from pathlib import Path

import polars as pl
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
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
    ws.freeze_panes = "A2"
    for i, name in enumerate(df.columns, start=1):
        ws.column_dimensions[get_column_letter(i)].width = min(40, max(10, len(name) + 2))
    header = []
    for name in df.columns:
        c = WriteOnlyCell(ws, value=name)
        c.font, c.fill = Font(bold=True), HEADER_FILL
        header.append(c)
    ws.append(header)
    for row in df.iter_rows():
        ws.append([_cell(v) for v in row])


def write_workbook(path: Path, sheets: dict[str, pl.DataFrame]) -> None:
    wb = Workbook(write_only=True)
    for title, df in sheets.items():
        _sheet(wb, title, df)
    wb.save(path)


def workbook_text(path: Path) -> str:
    """Every text a workbook holds (sheet and shared-string XML), for the privacy scan: a superset of
    what Excel shows, read without parsing cells."""
    with zipfile.ZipFile(path) as z:
        return "\n".join(z.read(n).decode("utf-8", errors="replace") for n in z.namelist() if n.endswith(".xml"))
