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


def dump_dom(path: Path) -> Dom:
    out = subprocess.run([CHROMIUM, *FLAGS, "--dump-dom", path.resolve().as_uri()], capture_output=True, text=True,
                         timeout=120, check=True).stdout
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
