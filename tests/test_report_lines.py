"""The lines pages' tables built in Polars (pipelines/engine/reports/lines.py): text escaped as Jinja's autoescape
does, money and shares formatted as the templates' filters do, one section per episode anchored E-<id>, lines in
their episode's section only and in order."""
from __future__ import annotations

import datetime as dt
import random

import markupsafe
import polars as pl

from pipelines.engine.reports import lines as L
from pipelines.engine.reports.build import _money, _pct


def _apply(expr_fn, values, dtype=None) -> list:
    return pl.select(expr_fn(pl.lit(pl.Series(values, dtype=dtype)))).to_series().to_list()


def test_escape_money_and_percent_match_the_templates_filters():
    texts = ["a<b>&\"c'", "plain", "&amp;", "", None]
    assert _apply(L.escape, texts) == [str(markupsafe.escape(t)) if t is not None else "" for t in texts]
    rng = random.Random(7)
    # (exact half-cent ties aside, where Python rounds the binary value: costs are whole cents)
    amounts = [0.0, -0.004, 0.994, 999.996, 1000.0, -1234.5, 999_999.999, 1_000_000.0, 123_456_789.01, None,
               float("nan"), *[rng.uniform(-2e9, 2e9) for _ in range(500)], *[rng.uniform(-5e3, 5e3) for _ in range(500)]]
    assert _apply(L.money, amounts, pl.Float64) == [_money(v) for v in amounts]
    shares = [0.0, 0.5, 1 / 3, 2 / 3, 1.0, None]
    assert _apply(L.percent0, shares, pl.Float64) == [_pct(v, 0) for v in shares]


def test_page_sections_one_anchored_section_per_episode_with_its_lines_in_order():
    episodes = pl.DataFrame({
        "tin": ["T1", "T1", "T2"], "npi": ["N1", "N1", "N9"], "cohort": ["HF", "HF", "HF"],
        "episode_id": ["E2", "E1", "E1"], "start_date": [dt.date(2027, 3, 1), dt.date(2027, 1, 1), dt.date(2027, 1, 1)],
        "end_date": [dt.date(2027, 6, 1)] * 3, "status": ["open", "closed", "closed"], "share": [1.0, 0.5, 0.5],
        "observed_cost": [10.0, 1234.5, 1234.5], "lines": [1, 2, 2], "note": ["open: cost to date", "", ""]})
    lines = pl.DataFrame({
        "report_tin": ["T1", "T1", "T1", "T2", "T2"], "episode_id": ["E1", "E1", "E2", "E1", "E1"],
        "service_date": [dt.date(2027, 1, 1), dt.date(2027, 1, 5), dt.date(2027, 3, 1), dt.date(2027, 1, 1),
                         dt.date(2027, 1, 5)],
        "episode_day": [0, 4, 0, 0, 4], "source": ["Part B"] * 5, "code": ["99213", "<script>", "72100", "99213", "x"],
        "service_category": ["em"] * 5, "billed_by": ["N1", "another practice", "N1", "another practice", "N9"],
        "cost_amount": [1000.0, 234.5, 10.0, 1000.0, 234.5], "claim_control_number": ["C1", "C2", "C3", "C1", "C2"],
        "line_number": [1, 1, 1, 1, 1], "source_file": ["f&1", None, "f", "f", "f"], "source_row": [1, 2, 3, 1, 2]})
    pages = L.page_sections(episodes, lines)
    assert pages.select("tin", "npi").rows() == [("T1", "N1"), ("T2", "N9")]
    html = pages["sections"][0]
    # episodes by start date, each in its own anchored section, its lines in order and only there
    assert html.index('<section id="E-E1">') < html.index('<section id="E-E2">') and html.count("<section") == 2
    e1, e2 = html.split('<section id="E-E2">')
    assert e1.index(">99213<") < e1.index("&lt;script&gt;") and ">72100<" in e2 and ">72100<" not in e1
    assert "<script>" not in html and "f&amp;1" in html and "$1,234.50" in html and "share 50%" in html
    assert '(OPEN)</span>' in e2 and "open: cost to date" in e2 and "(OPEN)" not in e1
    assert ">N9<" not in html and ">N9<" in pages["sections"][1]  # each TIN's lines as that TIN shows them
