"""Reports in a real browser: headless Chromium (Debian's `chromium`, installed by .ci/run) opens the index
and a scorecard; every chart was drawn by the page's script from its Vega-Lite specification with the Vega
runtime shipped in the reports folder (an SVG with marks inside each chart container, none failed), every
link of the index and of the scorecard opens a file of the reports folder (anchors included), and no page
shows another TIN's clinicians or any beneficiary id. No network: the runtime is a local file."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
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


@pytest.fixture(scope="module")
def pages():
    settings, _ = demo_run()
    reports = settings.reports_dir
    scores = pl.read_parquet(settings.warehouse_dir / "participant_scores.parquet")
    tin = scores.filter(pl.col("status") == "scored").sort("tin")["tin"][0]
    return settings, reports, tin, dump_dom(reports / "index.html"), dump_dom(reports / tin / "scorecard.html")


def _target(page: Path, href: str) -> tuple[Path, str]:
    url = urlparse(href)
    assert url.scheme in ("", "file"), f"{page.name} links outside the reports folder: {href}"
    path = page if not url.path else (page.parent / unquote(url.path)).resolve()
    return path, url.fragment


def test_index_lists_every_tin_and_its_links_open(pages):
    settings, reports, _, index, _ = pages
    tins = set(pl.read_parquet(settings.warehouse_dir / "eligibility.parquet")["tin"].drop_nulls())
    text = " ".join(index.text)
    assert all(t in text for t in tins)
    cards = [h for h in index.links if h.endswith("scorecard.html")]
    assert len(cards) == len([p for p in reports.iterdir() if (p / "scorecard.html").is_file()])
    for href in index.links:
        path, _ = _target(reports / "index.html", href)
        assert path.is_file(), href


def test_scorecard_charts_rendered(pages):
    settings, reports, tin, _, card = pages
    scored = pl.read_parquet(settings.warehouse_dir / "participant_scores.parquet").filter(
        (pl.col("tin") == tin) & (pl.col("status") == "scored")).height
    kinds = {}
    for name, svgs, marks in card.charts:
        kinds.setdefault(name, []).append((svgs, marks))
    # per scored clinician: cost position, quality deciles, waterfall, two trend charts; per cohort: drivers
    assert len(kinds["cost"]) == len(kinds["quality"]) == len(kinds["waterfall"]) == scored
    assert kinds["drivers"]
    # the trend from two data dates on (tests/test_charts.py draws one); this run stored one date
    dates = read_history(settings.out_dir)["as_of"].n_unique()
    assert len(kinds.get("trend", [])) == (2 * scored if dates >= 2 else 0)
    assert (dates >= 2) != ('data-trend="one-date"' in (reports / tin / "scorecard.html").read_text())
    for name, charts in kinds.items():
        for svgs, marks in charts:
            assert svgs == 1 and marks >= 10, f"{name} chart did not render ({svgs} svg, {marks} marks)"
    assert 'data-drawn="failed"' not in card.raw and card.raw.count('data-drawn="yes"') == len(card.charts)
    assert (reports / "vega-embed.js").is_file() and (reports / "vega-embed.LICENSE.txt").is_file()


def test_scorecard_links_open_and_anchors_exist(pages):
    _, reports, tin, _, card = pages
    page = reports / tin / "scorecard.html"
    lines_pages = {}
    for href in card.links:
        path, anchor = _target(page, href)
        assert path.is_file(), href
        if anchor and path != page:
            if path not in lines_pages:
                lines_pages[path] = dump_dom(path)
            assert anchor in lines_pages[path].ids, href
        elif anchor:
            assert anchor in card.ids, href
    assert lines_pages, "no episode links to lines pages"


def test_no_page_shows_another_tins_clinicians_or_a_beneficiary_id(pages):
    settings, reports, tin, index, card = pages
    wh = settings.warehouse_dir
    bene = set(pl.read_parquet(wh / "episodes.parquet", columns=["bene_id"])["bene_id"]) | set(
        pl.read_parquet(wh / "partb_lines.parquet", columns=["bene_id"])["bene_id"].drop_nulls())
    elig = pl.read_parquet(wh / "eligibility.parquet", columns=["tin", "npi"])
    others = set(elig.filter(pl.col("tin") != tin)["npi"]) - set(elig.filter(pl.col("tin") == tin)["npi"])
    lines = reports / tin / "lines"
    doms = [("index", index, set(elig["npi"])), ("scorecard", card, others)]
    doms += [(p.name, dump_dom(p), others) for p in sorted(lines.glob("*.html"))[:3]]
    for name, dom, forbidden in doms:
        tokens = set(TOKEN.findall(dom.raw))
        assert not tokens & bene, f"{name} shows a beneficiary id"
        assert not tokens & forbidden, f"{name} shows a clinician of another TIN"
