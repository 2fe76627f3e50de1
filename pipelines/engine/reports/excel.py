"""Per-TIN Excel workbook for practice managers (XlsxWriter in constant-memory mode: rows streamed to
disk, about 3x faster than openpyxl's write-only mode on the demo's episode lines): sheets scores,
measures, episodes, lines, each a table of the final tables' rows for that TIN (no beneficiary ids), with a
bold header row and frozen panes (a notice row above it where given), and 'About this file' (the trace).
Text is always written as text (never as a formula or a link)."""
from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import polars as pl
import xlsxwriter

HEADER = {"bold": True, "bg_color": "#EEF3F8"}
NOTICE = {"bold": True, "font_color": "#B3261E"}
ABOUT_SHEET = "About this file"
OPTIONS = {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
           "strings_to_numbers": False}


def _writer(ws, dtype: pl.DataType, formats: dict):
    """The cell writer of a column, chosen once by its type (XlsxWriter's generic `write` guesses per cell)."""
    if dtype == pl.Date:
        return lambda r, c, v: ws.write_datetime(r, c, dt.datetime.combine(v, dt.time()), formats["date"])
    if isinstance(dtype, pl.Datetime):
        return lambda r, c, v: ws.write_datetime(r, c, v.replace(tzinfo=None), formats["datetime"])
    if dtype == pl.Boolean:
        return ws.write_boolean
    if isinstance(dtype, pl.Decimal):
        return lambda r, c, v: ws.write_number(r, c, float(v))
    if dtype.is_numeric():
        def number(r, c, v):
            if v == v:  # NaN: left blank
                ws.write_number(r, c, v)
        return number
    if dtype in (pl.Utf8, pl.Categorical) or isinstance(dtype, pl.Enum):
        return ws.write_string
    return lambda r, c, v: ws.write_string(r, c, str(v))  # lists, structs: as text


def _sheet(wb: xlsxwriter.Workbook, formats: dict, title: str, df: pl.DataFrame, notice: str = ""):
    """A table with its header row; a `notice` (patient information) goes in a row above the header."""
    ws = wb.add_worksheet(title)
    top = 1 if notice else 0
    if notice:
        ws.write_string(0, 0, notice, formats["notice"])
    ws.freeze_panes(top + 1, 0)
    for i, name in enumerate(df.columns):
        ws.set_column(i, i, min(40, max(10, len(name) + 2)))
    ws.write_row(top, 0, df.columns, formats["header"])
    writers = [_writer(ws, d, formats) for d in df.dtypes]
    for r, row in enumerate(df.iter_rows(), start=top + 1):
        for c, v in enumerate(row):
            if v is not None:
                writers[c](r, c, v)
    return ws


def write_workbook(path: Path, sheets: dict[str, pl.DataFrame], about: list[tuple[str, str]] | None = None,
                   notices: dict[str, str] | None = None) -> None:
    """`sheets` in order, then an 'About this file' sheet of (field, value) rows (trace.trace_rows) when given;
    `notices`: sheet title -> a line shown above that sheet's table."""
    wb = xlsxwriter.Workbook(str(path), OPTIONS)
    formats = {"header": wb.add_format(HEADER), "date": wb.add_format({"num_format": "yyyy-mm-dd"}),
               "datetime": wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}), "notice": wb.add_format(NOTICE)}
    for title, df in sheets.items():
        _sheet(wb, formats, title, df, (notices or {}).get(title, ""))
    if about:
        ws = _sheet(wb, formats, ABOUT_SHEET, pl.DataFrame(about, schema=["field", "value"], orient="row"))
        ws.set_column(0, 0, 45)
        ws.set_column(1, 1, 90)
    wb.close()


def workbook_text(path: Path) -> str:
    """Every text a workbook holds (sheet and shared-string XML), for the privacy scan: a superset of
    what Excel shows, read without parsing cells."""
    with zipfile.ZipFile(path) as z:
        return "\n".join(z.read(n).decode("utf-8", errors="replace") for n in z.namelist() if n.endswith(".xml"))
