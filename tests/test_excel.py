"""The per-TIN workbook (pipelines/engine/reports/excel.py): each column written by its type, blanks for nulls
and NaN, text that looks like a formula stays text (a claim field never runs in a practice's Excel)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
from openpyxl import load_workbook

from pipelines.engine.reports.excel import workbook_text, write_workbook


def test_columns_are_written_by_type_and_text_is_never_a_formula(tmp_path):
    df = pl.DataFrame({"s": ["=HYPERLINK(\"x\")", None, "a"], "i": [1, None, 3], "f": [1.5, float("nan"), None],
                       "d": [dt.date(2027, 1, 2), None, dt.date(2027, 3, 4)], "b": [True, False, None],
                       "dec": pl.Series([Decimal("1.25"), None, Decimal("2.50")], dtype=pl.Decimal(10, 2)),
                       "l": [[1, 2], None, [3]]})
    path = tmp_path / "x.xlsx"
    write_workbook(path, {"scores": df, "empty": df.head(0)})
    wb = load_workbook(path)
    assert wb.sheetnames == ["scores", "empty"]
    ws = wb["scores"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == tuple(df.columns)
    assert rows[1] == ('=HYPERLINK("x")', 1, 1.5, dt.datetime(2027, 1, 2), True, 1.25, "[1, 2]")
    assert rows[2] == (None, None, None, None, False, None, None)
    assert rows[3] == ("a", 3, None, dt.datetime(2027, 3, 4), None, 2.5, "[3]")
    assert ws["A2"].data_type == "s"  # a string cell, not a formula
    assert ws.freeze_panes == "A2" and ws["A1"].font.b
    assert "HYPERLINK" in workbook_text(path)  # the privacy scan reads every string
