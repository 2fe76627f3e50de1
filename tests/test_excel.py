"""The per-TIN exports (pipelines/engine/reports/excel.py, exports.py, columns.py): each column written by its type,
blanks for nulls and NaN, text that looks like a formula stays text (a claim field never runs in a practice's
Excel); number formats by unit, a filter and a frozen header on every sheet; on the demo run, one header per
figure across scorecard.csv and the workbook, status words rather than codes, rounded values, a data dictionary
listing every column, and the episodes' expected cost and O/E adding up to the cost measure score's (R4)."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import polars as pl
import pytest
from openpyxl import load_workbook

from pipelines.engine.reports.columns import COLUMNS, UNITS
from pipelines.engine.reports.excel import workbook_text, write_workbook
from tests.report_run import demo_run


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
    assert ws["D2"].number_format == "yyyy-mm-dd"  # a date, not a date and time
    assert ws.freeze_panes == "A2" and ws["A1"].font.b
    assert "HYPERLINK" in workbook_text(path)  # the privacy scan reads every string


def test_number_formats_by_unit_filter_and_frozen_header_on_every_sheet(tmp_path):
    df = pl.DataFrame({"Dollars": [1234.5, -2.0], "Adjustment": [0.09, -0.0234], "Score": [33.17, 5.0],
                       "Name": ["a", "b"]})
    path = tmp_path / "x.xlsx"
    write_workbook(path, {"One": df, "Two": df.head(0)},
                   {"Dollars": "currency", "Adjustment": "percent", "Score": "points", "Name": "text"})
    wb = load_workbook(path)
    ws = wb["One"]
    assert ws["A2"].number_format == UNITS["currency"][0] and ws["A3"].value == -2.0
    assert ws["B2"].number_format == "0.00%" and ws["B2"].value == 0.09  # 0.09 shows as 9.00%
    assert ws["C2"].number_format == "0.00" and ws["D2"].number_format == "General"
    for sheet in wb.worksheets:
        assert sheet.freeze_panes == "A2" and sheet["A1"].font.b
        assert sheet.auto_filter.ref and sheet.auto_filter.ref.startswith("A1:D")


def test_every_column_has_one_name_and_a_known_unit():
    names = [c.name for c in COLUMNS.values()]
    assert len(names) == len(set(names)), "two figures share a header"
    assert all(c.unit in UNITS and c.definition for c in COLUMNS.values())
    assert not any("lead figure" in n.lower() or "projected (cms)" in n.lower() for n in names)


# ------------------------------------------------------------------------------------------ the demo run's exports

@pytest.fixture(scope="module")
def run():
    return demo_run()


def _tin_with_scored(settings) -> str:
    scores = pl.read_parquet(settings.warehouse_dir / "participant_scores.parquet")
    return scores.filter(pl.col("status") == "scored").sort("tin")["tin"][0]


def test_workbook_sheets_formats_and_dictionary(run):
    settings, _ = run
    tin = _tin_with_scored(settings)
    wb = load_workbook(settings.reports_dir / tin / "scorecard.xlsx")
    assert wb.sheetnames == ["Clinicians", "Measures", "Episodes", "Data dictionary", "About this file"]
    for ws in wb.worksheets:  # the Episodes sheet has the patient-information notice above its header
        assert ws.freeze_panes == ("A3" if ws.title == "Episodes" else "A2") and ws.auto_filter.ref, ws.title
    ws = wb["Clinicians"]
    header = [c.value for c in ws[1]]
    scored = next(r for r in ws.iter_rows(min_row=2) if r[header.index("Status code")].value == "scored")
    dollars = scored[header.index(COLUMNS["pool_dollar_impact"].name)]
    factor = scored[header.index(COLUMNS["pool_factor"].name)]
    assert dollars.number_format == UNITS["currency"][0] and isinstance(dollars.value, float)
    assert factor.number_format == "0.00%" and -0.1 < factor.value < 0.1  # a share, shown as a percent
    # the dictionary: every column of every sheet, with unit and definition, and lines.csv's
    listed = {}
    for sheet, column, unit, definition in wb["Data dictionary"].iter_rows(min_row=2, values_only=True):
        listed.setdefault(sheet.split(" ")[0], []).append(column)
        assert unit in UNITS and definition, column
    for ws in wb.worksheets[:3]:
        header_row = 2 if ws.title == "Episodes" else 1
        assert listed[ws.title] == [c.value for c in ws[header_row]], ws.title
    lines_header = pl.read_csv(settings.reports_dir / tin / "lines.csv", n_rows=1).columns
    assert listed["lines.csv"] == lines_header


def test_csv_has_the_workbooks_headers_words_not_codes_and_rounded_values(run):
    settings, _ = run
    folders = sorted(p for p in settings.reports_dir.iterdir() if p.is_dir())
    codes = {"below_case_minimum", "failed_minimum_submission", "not_eligible", "not_in_asm",
             "Q3_completeness_below_minimum", "Q4_below_case_minimum", "not_submitted", "no_attributed_episodes"}
    decimals = re.compile(r"^-?\d+\.(\d+)$")
    for folder in folders:
        csv = pl.read_csv(folder / "scorecard.csv", infer_schema=False)
        wb = load_workbook(folder / "scorecard.xlsx", read_only=True)
        assert csv.columns == list(next(wb["Clinicians"].iter_rows(max_row=1, values_only=True)))
        units = {column: unit for sheet, column, unit, _ in wb["Data dictionary"].iter_rows(min_row=2, values_only=True)
                 if sheet.startswith("Clinicians")}
        for name in csv.columns:
            values = csv[name].drop_nulls().to_list()
            if name != COLUMNS["status_code"].name:
                assert not codes & set(values), f"{folder.name}: a code in {name}"
            digits = UNITS[units[name]][1]
            if digits is not None:
                worst = max((len(m.group(1)) for v in values if (m := decimals.match(v))), default=0)
                assert worst <= digits, f"{folder.name}: {name} has {worst} decimals"
        text = (folder / "scorecard.csv").read_text() + workbook_text(folder / "scorecard.xlsx")
        assert "Q4_below_case_minimum" not in text and "lead figure" not in text and "Projected (CMS)" not in text
    both = pl.concat([pl.read_csv(f / "scorecard.csv", infer_schema=False) for f in folders], how="diagonal")
    assert {"Scored", "Not in ASM"} <= set(both[COLUMNS["status"].name])
    assert both[COLUMNS["status_code"].name].is_in(list(codes | {"scored"})).all()


def test_episodes_expected_cost_and_excess_add_up_to_the_cost_measure(run):
    """Per episode: expected cost from episode_risk, O/E and excess = winsorized observed - expected; over a
    participant's counted episodes they give cost_measure_scores' O/E (R4), and the list is sorted by excess."""
    from pipelines.engine.reports.episodes import participant_episodes

    settings, _ = run
    tin = _tin_with_scored(settings)
    eps = participant_episodes(settings, [tin])
    assert eps.height and eps["expected_cost"].drop_nulls().len()
    counted = eps.filter(pl.col("counts_for_scoring"))
    assert (counted["excess_cost"] - (counted["observed_cost_winsorized"] - counted["expected_cost"])).abs().max() < 1e-6
    sums = counted.group_by("npi", "cohort").agg(pl.col("observed_cost_winsorized").sum() / pl.col("expected_cost").sum())
    cms = pl.read_parquet(settings.warehouse_dir / "cost_measure_scores.parquet").filter(pl.col("tin") == tin)
    joined = sums.join(cms, on=["npi", "cohort"])
    assert joined.height and (joined["observed_cost_winsorized"] - joined["oe_ratio"]).abs().max() < 1e-9
    for _, g in eps.group_by("npi", "cohort"):
        excess = g["excess_cost"].drop_nulls()
        assert excess.to_list() == sorted(excess.to_list(), reverse=True)
    rows = list(load_workbook(settings.reports_dir / tin / "scorecard.xlsx", read_only=True)["Episodes"]
                .iter_rows(values_only=True))
    assert len(rows) == eps.height + 2  # the patient-information notice, the header, the episodes
    excess = [r[rows[1].index(COLUMNS["excess_cost"].name)] for r in rows[2:]]
    assert excess == eps["excess_cost"].round(2).to_list()
