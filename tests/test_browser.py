"""Reports in a real browser: headless Chromium (Debian's `chromium`, installed by .ci/run) opens the index
and three scorecards (solo, largest, outside ASM) with their clinicians; every chart was drawn by the page's script from its Vega-Lite specification with the Vega
runtime shipped in the reports folder (an SVG with marks inside each chart container, none failed), every
link of the index and of the scorecard opens a file of the reports folder (anchors included), and no page
shows another TIN's clinicians or any beneficiary id. No network: the runtime is a local file."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import polars as pl
import pytest

from pipelines.engine.projection import read_history
from tests.report_run import demo_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# --virtual-time-budget: let the page's scripts (the charts) finish before the DOM is dumped
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--virtual-time-budget=30000"]
TOKEN = re.compile(r"[A-Za-z0-9]+")
MARKS = ("path", "rect", "line", "circle", "text")

if CHROMIUM is None and not os.environ.get("CI"):
    pytest.skip("chromium not installed (.ci/run installs it: apt-get install -y chromium)", allow_module_level=True)


class Dom(HTMLParser):
    """Links, element ids, chart containers with their SVG mark counts, and the visible text."""

    def __init__(self):
        super().__init__()
        self.links, self.ids, self.charts, self.text = [], set(), [], []
        self._chart = None  # [name, svgs, marks]
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "div" and "data-chart" in a:
            self._chart, self._depth = [a["data-chart"], 0, 0], 0
            self.charts.append(self._chart)
        if self._chart is not None:
            self._depth += tag != "div" or self._depth > 0
            if tag == "svg":
                self._chart[1] += 1
            elif tag in MARKS:
                self._chart[2] += 1

    def handle_endtag(self, tag):
        if self._chart is not None and tag == "div":
            self._chart = None

    def handle_data(self, data):
        self.text.append(data)


def dump_dom(path: Path, fragment: str = "") -> Dom:
    out = subprocess.run([CHROMIUM, *FLAGS, "--dump-dom", path.resolve().as_uri() + fragment], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert "<body" in out, f"chromium did not render {path}"
    dom = Dom()
    dom.feed(out)
    dom.raw = out
    return dom


@dataclass
class Pages:
    settings: object
    reports: Path
    tin: str  # a practice with a scored clinician (the first by TIN)
    index: Dom
    card: Dom
    cards: dict  # kind -> (tin, scorecard Dom, [clinician page Doms]): solo, largest, outside ASM


def _three_practices(wh: Path) -> dict[str, str]:
    """The solo practice (one clinician, scored), the largest (most participants) and one outside ASM."""
    s = pl.read_parquet(wh / "participant_scores.parquet").group_by("tin").agg(
        pl.len().alias("n"), (pl.col("status") == "scored").sum().alias("scored"),
        (pl.col("status") == "not_eligible").all().alias("outside"))
    solo = s.filter((pl.col("n") == 1) & (pl.col("scored") == 1)).sort("tin")["tin"][0]
    largest = s.sort(["n", "tin"], descending=[True, False])["tin"][0]
    outside = s.filter(pl.col("outside")).sort("tin")["tin"][0]
    return {"solo": solo, "largest": largest, "outside": outside}


CLINICIAN_PAGES = 3  # clinician pages opened per practice (most dollars at risk first): each takes ~2 s


@pytest.fixture(scope="module")
def pages():
    settings, _ = demo_run()
    reports = settings.reports_dir
    scores = pl.read_parquet(settings.warehouse_dir / "participant_scores.parquet")
    tin = scores.filter(pl.col("status") == "scored").sort("tin")["tin"][0]
    cards = {}
    for kind, t in _three_practices(settings.warehouse_dir).items():
        card = dump_dom(reports / t / "scorecard.html")
        detail = list(dict.fromkeys(h.split("#")[0] for h in card.links if h.startswith("clinicians/")))[:CLINICIAN_PAGES]
        cards[kind] = (t, card, [dump_dom(reports / t / h) for h in detail])
    return Pages(settings, reports, tin, dump_dom(reports / "index.html"), dump_dom(reports / tin / "scorecard.html"),
                 cards)


def _target(page: Path, href: str) -> tuple[Path, str]:
    url = urlparse(href)
    assert url.scheme in ("", "file"), f"{page.name} links outside the reports folder: {href}"
    path = page if not url.path else (page.parent / unquote(url.path)).resolve()
    return path, url.fragment


def test_index_lists_every_tin_and_its_links_open(pages):
    settings, reports, index = pages.settings, pages.reports, pages.index
    tins = set(pl.read_parquet(settings.warehouse_dir / "eligibility.parquet")["tin"].drop_nulls())
    text = " ".join(index.text)
    assert all(t in text for t in tins)
    cards = {h for h in index.links if h.endswith("scorecard.html")}
    assert len(cards) == len([p for p in reports.iterdir() if (p / "scorecard.html").is_file()])
    for href in index.links:
        path, _ = _target(reports / "index.html", href)
        assert path.is_file(), href


INDEX_ROW = re.compile(r'<tr data-i="\d+" data-tin="([^"]*)" data-cohort="([^"]*)"[^>]*>')


def index_rows(dom: Dom) -> list[tuple[str, str, bool]]:
    """The index's rows with participants as the page shows them: (TIN, cohort, hidden by a filter)."""
    body = dom.raw.split('<tbody id="rows">', 1)[1].split("</tbody>", 1)[0]
    return [(m[1], m[2], " hidden" in m[0]) for m in INDEX_ROW.finditer(body)]


def test_index_sorted_by_dollars_at_risk_then_by_the_address(pages):
    """The index opens ordered by dollars at risk (max(0, -dollars) of the estimate the scorecard leads with),
    largest first, ties by the scored clinicians' Part B paid, then TIN: worked here from the tables. Its
    script sorts and filters by the address (#sort=tin&dir=asc), as a click on a heading does."""
    settings, reports, index = pages.settings, pages.reports, pages.index
    wh = settings.warehouse_dir
    led = lambda pool, cms: pl.when(pl.col("lead") == "pool").then(pl.col(pool)).otherwise(pl.col(cms))  # noqa: E731
    projected = pl.read_parquet(wh / "projected_scores.parquet")
    partb = projected.filter(led("pool_final_score", "projected_final_score").is_not_null()).group_by(
        "tin", "cohort").agg(pl.col("partb_paid").sum().alias("scored_partb"))
    in_asm = projected.filter(pl.col("status") != "not_eligible").select("tin", "cohort").unique()
    want = (pl.read_parquet(wh / "projection_tin_summary.parquet").join(in_asm, on=["tin", "cohort"])
            .join(partb, on=["tin", "cohort"], how="left").select(
                "tin", "cohort", pl.col("scored_partb").fill_null(0.0),
                pl.when(pl.col("lead_dollar_impact") < 0).then(-pl.col("lead_dollar_impact"))
                .otherwise(pl.col("lead_dollar_impact") * 0).alias("risk")))  # $0 when it gains, empty without
    figures = {(r["tin"], r["cohort"]): r for r in want.to_dicts()}
    shown = index_rows(index)
    rows = [(t, c) for t, c, _ in shown]
    assert set(rows) == set(figures) and len(rows) == len(figures) and not any(h for *_, h in shown)
    assert any(figures[r]["risk"] for r in rows) and any(figures[r]["risk"] == 0 for r in rows)

    def default(r):
        risk = figures[r]["risk"]
        return (risk is None, -(risk or 0.0), -figures[r]["scored_partb"], r)
    assert rows == sorted(rows, key=default)
    assert 'data-key="risk" data-type="num" aria-sort="descending"' in index.raw
    # index.csv: the same rows in the same order, then the TINs without participants
    csv = pl.read_csv(reports / "index.csv", infer_schema=False)
    assert list(zip(csv["TIN"], csv["Cohort"]))[:len(rows)] == rows
    assert csv.height == len(rows) + csv["Cohort"].is_null().sum()

    by_tin = index_rows(dump_dom(reports / "index.html", "#sort=tin&dir=asc"))
    tins = [(t, c) for t, c, _ in by_tin]
    assert tins == sorted(rows, key=lambda r: (r[0], rows.index(r))) and tins != rows  # ties: the default order
    dom = dump_dom(reports / "index.html", "#sort=partb&dir=asc&cohort=HF&losing=1")
    visible = [(t, c) for t, c, hidden in index_rows(dom) if not hidden]
    losing = [r for r in rows if r[1] == "HF" and (figures[r]["risk"] or 0) > 0]
    assert visible and visible == sorted(losing, key=lambda r: (figures[r]["scored_partb"], rows.index(r)))
    assert 'data-key="partb" data-type="num" aria-sort="ascending"' in dom.raw
    assert dom.raw.count('aria-sort="ascending"') == 1 and 'aria-sort="descending"' not in dom.raw


def _charts_drawn(dom: Dom) -> dict[str, int]:
    kinds = {}
    for name, svgs, marks in dom.charts:
        assert svgs == 1 and marks >= 10, f"{name} chart did not render ({svgs} svg, {marks} marks)"
        kinds[name] = kinds.get(name, 0) + 1
    assert 'data-drawn="failed"' not in dom.raw and dom.raw.count('data-drawn="yes"') == len(dom.charts)
    return kinds


def test_three_scorecards_and_their_clinicians_charts_rendered(pages):
    """Solo practice, the largest practice, a practice outside ASM: every chart of each scorecard and of its
    clinicians' pages (the first few, most dollars at risk first) was drawn in the browser."""
    settings, reports = pages.settings, pages.reports
    dates = read_history(settings.out_dir)["as_of"].n_unique()
    for kind, (tin, card, clinicians) in pages.cards.items():
        assert card.charts or kind == "outside"
        _charts_drawn(card)
        if kind == "outside":
            assert not clinicians and not card.charts and "data-not-in-asm" in card.raw
            continue
        assert clinicians, f"{kind}: no clinician page"
        for page in clinicians:
            kinds = _charts_drawn(page)
            if "waterfall" in kinds:  # a clinician with a score: cost, quality, waterfall (trend from 2 dates)
                assert kinds["cost"] == kinds["quality"] == 1 and kinds.get("trend", 0) == (2 if dates >= 2 else 0)
    assert (reports / "vega-embed.js").is_file() and (reports / "vega-embed.LICENSE.txt").is_file()


def test_scorecard_links_open_and_anchors_exist(pages):
    reports, tin = pages.reports, pages.tin
    page = reports / tin / "scorecard.html"
    for href in pages.card.links:
        path, anchor = _target(page, href)
        assert path.is_file(), href
    # a clinician page's episodes link to their lines, anchors included
    t, _, clinicians = pages.cards["largest"]
    detail = reports / t / [h for h in pages.cards["largest"][1].links if h.startswith("clinicians/")][0].split("#")[0]
    lines_pages = {}
    for href in clinicians[0].links:
        path, anchor = _target(detail, href)
        assert path.is_file(), href
        if anchor and path != detail:
            if path not in lines_pages:
                lines_pages[path] = dump_dom(path)
            assert anchor in lines_pages[path].ids, href
    assert lines_pages, "no episode links to lines pages"


def test_no_page_shows_another_tins_clinicians_or_a_beneficiary_id(pages):
    settings, reports = pages.settings, pages.reports
    wh = settings.warehouse_dir
    bene = set(pl.read_parquet(wh / "episodes.parquet", columns=["bene_id"])["bene_id"]) | set(
        pl.read_parquet(wh / "partb_lines.parquet", columns=["bene_id"])["bene_id"].drop_nulls())
    elig = pl.read_parquet(wh / "eligibility.parquet", columns=["tin", "npi"])
    doms = [("index", pages.index, set(elig["npi"]))]
    for kind, (tin, card, clinicians) in pages.cards.items():
        others = set(elig.filter(pl.col("tin") != tin)["npi"]) - set(elig.filter(pl.col("tin") == tin)["npi"])
        doms += [(f"{kind} scorecard", card, others)] + [(f"{kind} clinician", c, others) for c in clinicians]
        doms += [(p.name, dump_dom(p), others) for p in sorted((reports / tin / "lines").glob("*.html"))[:2]]
    for name, dom, forbidden in doms:
        tokens = set(TOKEN.findall(dom.raw))
        assert not tokens & bene, f"{name} shows a beneficiary id"
        assert not tokens & forbidden, f"{name} shows a clinician of another TIN"
