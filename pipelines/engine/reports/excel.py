"""Per-TIN Excel workbook for practice managers, written by rustpy-xlsxwriter (rust_xlsxwriter under Python:
the cells are written in Rust). XlsxWriter, a Python call per cell plus ~35 ms per workbook, took most of the
reports stage (benchmarks/RESULTS.md, "Reports (issue 19)"). Every sheet: a bold header row, frozen,
with a filter; each column's number format from its unit (columns.UNITS: currency, percent, points, dates).
Text is always written as text (never as a formula or a link); nulls and NaN are blank cells. A sheet may carry
a notice (patient information) merged across a row above its header; 'About this file' holds the trace."""
from __future__ import annotations

import functools
import zipfile
from pathlib import Path

import polars as pl
import rustpy_xlsxwriter as rx

from pipelines.engine.reports.columns import UNITS

HEADER_COLOR = "#EEF3F8"
NOTICE_COLOR = "#B3261E"
ABOUT_SHEET = "About this file"


def _cells(df: pl.DataFrame) -> pl.DataFrame:
    """Types the writer writes as they are: decimals as numbers, categories as text, lists and structs as
    text (it would leave them blank), times zone-less."""
    out, changed = [], False
    for name, dtype in df.schema.items():
        c = pl.col(name)
        if isinstance(dtype, pl.Decimal):
            c = c.cast(pl.Float64)
        elif isinstance(dtype, (pl.Categorical, pl.Enum, pl.Null)):
            c = c.cast(pl.String)
        elif isinstance(dtype, (pl.List, pl.Array)):
            c = pl.concat_str([pl.lit("["), c.cast(pl.List(pl.String)).list.join(", "), pl.lit("]")])
        elif isinstance(dtype, pl.Struct):
            c = c.struct.json_encode()
        elif isinstance(dtype, pl.Datetime) and dtype.time_zone:
            c = c.dt.replace_time_zone(None)
        else:
            out.append(c)
            continue
        out.append(c.alias(name))
        changed = True
    return df.select(out) if changed else df


@functools.lru_cache(maxsize=None)
def _number_format(number: str):
    return rx.Format().set_num_format(number)


def _format(unit: str | None, dtype: pl.DataType):
    """The cell format of a column: its unit's number format (dates without a unit as dates)."""
    number = UNITS.get(unit or "", (None, None))[0]
    if number is None and dtype == pl.Date:
        number = UNITS["date"][0]
    return _number_format(number) if number else None


@functools.lru_cache(maxsize=1)
def _header():
    return rx.Format().set_bold().set_background_color(HEADER_COLOR)


@functools.lru_cache(maxsize=1)
def _notice():
    return rx.Format().set_bold().set_font_color(NOTICE_COLOR)


def write_workbook(path: Path, sheets: dict[str, pl.DataFrame], units: dict[str, str] | None = None,
                   about: list[tuple[str, str]] | None = None, notices: dict[str, str] | None = None) -> None:
    """`sheets`: title -> frame whose column names are the headers; `units`: header -> unit (columns.UNITS);
    `about`: (field, value) rows of an 'About this file' sheet written last (trace.trace_rows); `notices`: sheet
    title -> a line shown above that sheet's header."""
    units, notices = units or {}, notices or {}
    sheets = dict(sheets)
    if about:
        sheets[ABOUT_SHEET] = pl.DataFrame(about, schema=["field", "value"], orient="row")
    data, formats, widths, header_rows, merges, freeze = [], {}, {}, {}, {}, {}
    for title, df in sheets.items():
        df = _cells(df)
        data.append((title, df))
        fmt = {c: f for c, d in df.schema.items() if (f := _format(units.get(c), d)) is not None}
        if fmt:
            formats[title] = fmt
        widths[title] = [min(40, max(10, len(c) + 2)) for c in df.columns]
        top = 1 if notices.get(title) else 0
        if top:
            header_rows[title] = top
            merges[title] = [(0, 0, 0, max(0, df.width - 1), notices[title], _notice())]
        freeze[title] = {"row": top + 1, "col": 0}
    if about:
        widths[ABOUT_SHEET] = [45, 90]
    rx.write_worksheets(data, str(path), freeze_panes=freeze, autofilter={title: True for title in sheets},
                        header_format={title: _header() for title in sheets}, header_row=header_rows or None,
                        merge_ranges=merges or None, column_formats=formats, column_widths=widths,
                        datetime_format="yyyy-mm-dd hh:mm:ss")


def workbook_text(path: Path) -> str:
    """Every text a workbook holds (sheet and shared-string XML), for the privacy scan: a superset of
    what Excel shows, read without parsing cells."""
    with zipfile.ZipFile(path) as z:
        return "\n".join(z.read(n).decode("utf-8", errors="replace") for n in z.namelist() if n.endswith(".xml"))
