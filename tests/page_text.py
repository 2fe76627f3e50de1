"""What a person reads on a report page: the visible text of an HTML file, without scripts, styles, chart
specifications, attributes (tooltips) and the rule-id markers (`<sup class="rule">`, the rule index of
how-it-works.html), which are the footnotes and tooltips where rule ids belong (issue 19, item 3)."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

# the methodology's rule ids (G1-G4, E1-E6, ..., V1-V5, X1-X2), as a word of their own
RULE_ID = re.compile(r"(?<![A-Za-z0-9_-])[AEGCRBQSPVNTX][0-9](?![0-9A-Za-z])")
CODES = re.compile(r"\b(?:mips_cqm|ecqm|Q[3-7]_[a-z_]+|below_case_minimum|failed_minimum_submission|not_eligible|"
                   r"lead figure|Pool-based|Projected \(CMS\))\b")
SKIP_TAGS = {"script", "style"}


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack: list[bool] = []  # per open element: is its text hidden from the scan
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        hidden = tag in SKIP_TAGS or "rule" in classes or "rule-index" in classes
        if tag in ("br", "img", "meta", "link", "input", "hr", "col", "source", "wbr"):
            return
        self.stack.append(hidden or (bool(self.stack) and self.stack[-1]))

    def handle_endtag(self, tag):
        if tag in ("br", "img", "meta", "link", "input", "hr", "col", "source", "wbr"):
            return
        if self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if not (self.stack and self.stack[-1]):
            self.parts.append(data)


def visible_text(path: Path) -> str:
    p = _Text()
    p.feed(path.read_text(encoding="utf-8"))
    return " ".join(" ".join(p.parts).split())


def rule_ids_in_sentences(path: Path) -> list[str]:
    """Each rule id or raw code in the page's visible text, with a little context."""
    text = visible_text(path)
    return [text[max(0, m.start() - 40):m.end() + 40] for rx in (RULE_ID, CODES) for m in rx.finditer(text)]
