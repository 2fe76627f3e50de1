"""Words for codes in reports: statuses, reasons, zero reasons, specialty names (CMS's code set in
data/reference/cms_codes/, README there). Presentation only: no rule is decided here."""
from __future__ import annotations

import functools
import math
import re

import polars as pl
from markupsafe import Markup, escape

from pipelines.engine.methodology import Methodology
from pipelines.engine.paths import REFERENCE_DIR

SPECIALTY_FILE = REFERENCE_DIR / "cms_codes" / "clm_prvdr_spclty_cd.csv"
RULE_TOPICS = {"G1": "Specialty", "G2": "Cohort", "G3": "Location", "G4": "Volume", "S6": "Minimum submission",
               "S7/R5": "Case minimum", "R5": "Case minimum", "Q6": "Part A", "Q1": "Measure set"}
_SMALL = {"and", "or", "of", "the", "with", "in", "for"}
_RULE = re.compile(r"^(?P<rule>[A-Z][0-9](?:/[A-Z][0-9])?):\s*(?P<text>.*)$")


@functools.lru_cache(maxsize=1)
def _specialties() -> dict[str, str]:
    table = pl.read_csv(SPECIALTY_FILE, infer_schema=False, glob=False)
    return {r["code"]: r["description"] for r in table.iter_rows(named=True)}


def _title(text: str) -> str:
    words = text.lower().split()
    return " ".join(w if (i and w in _SMALL) else w[:1].upper() + w[1:] for i, w in enumerate(words))


def specialty(code: str | None) -> str:
    """'06' -> 'Cardiology'; an unknown code -> 'specialty <code>'; none -> 'specialty unknown'."""
    if not code:
        return "specialty unknown"
    name = _specialties().get(code)
    return _title(name) if name else f"specialty {code}"


def reason(text: str | None) -> str:
    """'G3: CBSA 90080 is not selected' -> 'Location: CBSA 90080 is not selected' (the rule id goes to a
    tooltip on pages: `plain_html`; CSV and Excel carry the words only)."""
    return plain(text)


def status(code: str | None, m: Methodology | None = None) -> str:
    minimum = m.benchmarks.case_minimum if m else "the minimum number of"
    return {
        "scored": "Scored",
        "failed_minimum_submission": "Scored 0: minimum submission not met",
        "below_case_minimum": f"Not scored: fewer than {minimum} attributed episodes (reports through MIPS)",
        "not_eligible": "Not in ASM",
        "not_in_asm": "Not in ASM",
    }.get(code or "", code or "")


def measure_status(code: str | None, m: Methodology, reason: str | None = None) -> str:
    q = m.quality
    if code == "not_scored" and (reason or "").startswith("Q6"):
        return "not scored (no Part A)"
    return {
        "scored": "scored",
        "not_submitted": "not submitted (0 points)",
        "not_scored": "not scored this run",
        "no_attributed_episodes": "no attributed episodes",
        "Q3_completeness_below_minimum": f"data completeness below {q.min_data_completeness:.0%}: 0 points",
        "Q4_below_case_minimum": f"fewer than {q.min_cases} cases: 0 points",
        "measure_not_scored": "measure not scored",
        "no_benchmark": "no benchmark: 0 points",
    }.get(code or "", code or "")


def status_counts(row: dict, m: Methodology) -> str:
    """'2 scored, 14 not scored (too few episodes)' from a summary row's status counts."""
    parts = [(row.get("scored"), "scored"), (row.get("failed_minimum_submission"), "scored 0 (minimum submission)"),
             (row.get("below_case_minimum"), f"not scored (fewer than {m.benchmarks.case_minimum} episodes)"),
             (row.get("not_eligible"), "not in ASM")]
    text = ", ".join(f"{n} {w}" for n, w in parts if n) or "no participants"
    if row.get("on_track"):  # V5: of those below the case minimum, on track with the open episodes
        text += f"; {row['on_track']} of them on track for {m.benchmarks.case_minimum} with the open episodes expected to close"
    return text


# ------------------------------------------------------------------------------------------ shared vocabulary
# One name per figure across pages, CSV, Excel and the index (issue 19, item 4): the two estimates a report
# shows, keyed by the column prefix of projected_scores / projection_tin_summary.
ESTIMATES = {"pool": "Peer-pool estimate", "projected": "CMS-benchmark estimate"}
ESTIMATE_SHORT = {"pool": "peer-pool", "projected": "CMS-benchmark"}
MEASURES_FILE = REFERENCE_DIR / "qpp" / "mips_measures_2027.csv"
COLLECTION_TYPES = {"ecqm": "eCQM (from the EHR)", "mips_cqm": "MIPS CQM (registry)", "claims": "Medicare Part B claims",
                    "administrative_claims": "computed by CMS from claims"}
# Short titles where CMS's title is a sentence (the full title stays in the glossary and tooltips).
SHORT_TITLES = {"005": "ACE/ARB/ARNI therapy for LVSD", "008": "Beta-blocker therapy for LVSD",
                "128": "BMI screening and follow-up", "134": "Depression screening and follow-up",
                "220": "Functional status change (low back)", "236": "Controlling high blood pressure",
                "238": "High-risk medications in older adults", "377": "Functional status assessments (HF)",
                "492": "Cardiovascular hospital admissions (HF)"}


@functools.lru_cache(maxsize=1)
def _measure_titles() -> dict[str, str]:
    table = pl.read_csv(MEASURES_FILE, infer_schema=False, glob=False)
    return {r["measure_id"]: r["title"] for r in table.iter_rows(named=True)}


def _cms_number(measure_id: str) -> str:
    return measure_id[1:] if measure_id[:1] == "Q" and measure_id[1:].isdigit() else measure_id


def measure_title(measure_id: str | None, short: bool = True) -> str:
    """'Q008' -> 'Beta-blocker therapy for LVSD' (short) or CMS's full title (data/reference/qpp, MIPS 2027);
    an id CMS's list does not hold -> the id itself."""
    if not measure_id:
        return ""
    number = _cms_number(measure_id)
    if short and number in SHORT_TITLES:
        return SHORT_TITLES[number]
    return _measure_titles().get(number, measure_id)


def measure_label(measure_id: str | None) -> str:
    """'Q008' -> 'Beta-blocker therapy for LVSD (Q008)': the title a person reads, the id for cross-reference."""
    return f"{measure_title(measure_id)} ({measure_id})" if measure_id else ""


OWN_UNIT_MEASURES = {"Q492": "per 100 person-years"}  # measures whose rate is not a percentage


def rate_in_unit() -> pl.Expr:
    """projected_measure_points' rate in the one unit each measure is shown in: percent for performance rates
    (`rate_cms_units` is a fraction where the measure has no CMS scale, a percent where `rate_scale` is 100),
    a measure's own unit for OWN_UNIT_MEASURES. The one home of the rule for pages, CSV and Excel."""
    rate = pl.col("rate_cms_units")
    return (pl.when(pl.col("measure_id").is_in(list(OWN_UNIT_MEASURES))).then(rate)
            .when(pl.col("rate_scale") == 100).then(rate).otherwise(rate * 100).alias("rate"))


def collection_type(code: str | None) -> str:
    return COLLECTION_TYPES.get(code or "", code or "")


# ------------------------------------------------------------------------------------------ rule ids out of sentences
# Rule ids (G3, S7/R5, Q4, V1-V3...) are the methodology's references for auditors: pages show them as a
# tooltip marker after the sentence (`rule_marker`), never inside it (issue 19, item 3); CSV/Excel drop them.
RULE_ID = r"[A-Z][0-9](?:\.[0-9])?(?:\s*[/\u2013-]\s*[A-Z]?[0-9])*"
_PREFIX = re.compile(rf"^(?P<ids>{RULE_ID}):\s*")
_LABEL = re.compile(rf"\b(?P<ids>{RULE_ID}):\s*")
_PAREN = re.compile(rf"\s*\((?:rules? )?(?P<ids>{RULE_ID})\)")
_INNER = re.compile(rf"(?:\b(?:rules? )?(?P<ids>{RULE_ID})(?:\s*:)?\s+)(?=needs\b|of\b)|(?:[;,]\s*)?\b(?:rules? )(?P<ids2>{RULE_ID})\b")
_BARE = re.compile(r"\b[A-Z][0-9](?:/[A-Z][0-9])*\b")
PHRASES = {"meeting Q3": "meeting the data-completeness minimum", "meets Q3": "meets the data-completeness minimum",
           "below Q3": "below the data-completeness minimum"}
_MEASURE = re.compile(r"\bQ[0-9]{3}\b")
_CODES = re.compile(r"\b(?:mips_cqm|ecqm)\b")


@functools.lru_cache(maxsize=1 << 16)  # the same reasons and notes recur on thousands of rows
def split_rules(text: str | None) -> tuple[str, list[str]]:
    """A table's text without its rule ids, and the ids: 'G3: CBSA 90080 is not selected' ->
    ('Location: CBSA 90080 is not selected', ['G3']); '... (Q4)' and '(rule G3)' lose the parenthesis."""
    if not text:
        return "", []
    text, ids = text.strip(), []
    m = _PREFIX.match(text)
    prefixed = m is not None  # 'G3: ...' becomes a sentence of its own: capitalized
    if m:
        ids.append(m["ids"])
        topic = RULE_TOPICS.get(m["ids"])
        text = (f"{topic}: " if topic else "") + text[m.end():]
    for m in _LABEL.finditer(text):  # 'excluded: X1: age under 18' -> 'excluded: age under 18'
        ids.append(m["ids"])
    text = _LABEL.sub("", text)
    for m in _PAREN.finditer(text):
        ids.append(m["ids"])
    text = _PAREN.sub("", text)
    for m in _INNER.finditer(text):
        ids.append(m["ids"] or m["ids2"])
    text = _INNER.sub("", text)
    for phrase, words in PHRASES.items():
        text = text.replace(phrase, words)
    for m in _BARE.finditer(text):  # last resort: an id left inside a sentence moves to the marker
        ids.append(m[0])
    text = re.sub(r"\s{2,}", " ", _BARE.sub("", text)).strip()
    text = _CODES.sub(lambda c: {"mips_cqm": "MIPS CQM", "ecqm": "eCQM"}[c[0]], text)
    return (text[:1].upper() + text[1:] if prefixed else text), ids


@functools.lru_cache(maxsize=1 << 16)
def plain(text: str | None) -> str:
    """Words only: rule ids dropped, measure ids named ('Q008' -> 'Beta-blocker therapy for LVSD (Q008)')."""
    words, _ = split_rules(text)
    return _MEASURE.sub(lambda q: measure_label(q[0]), words)


@functools.lru_cache(maxsize=1 << 12)
def rule_marker(*ids: str) -> Markup:
    """A footnote-style marker whose tooltip names the methodology rule(s); printed pages show the ids (a few
    distinct markers, each made once: a page shows one per lever)."""
    ids = [i for i in ids if i]
    if not ids:
        return Markup("")
    joined = ", ".join(dict.fromkeys(ids))
    return Markup('<sup class="rule" title="Methodology rule {0}" data-rule="{0}">&sect;</sup>').format(joined)


@functools.lru_cache(maxsize=1 << 16)
def plain_html(text: str | None) -> Markup:
    """`plain` for pages, escaped, with the rule ids as a tooltip marker at the end."""
    _, ids = split_rules(text)
    return escape(plain(text)) + rule_marker(*ids)


METRICS = {"measure_score": "Cost measure score ($)", "cost_points": "Cost points (1-10)", "quality_score": "Quality score (share of quality points, 0-1)",
           "final_score": "Final score (0-100)", "adjustment_factor": "Payment adjustment", "dollar_impact": "Dollars"}


def metric(name: str | None) -> str:
    return METRICS.get(name or "", name or "")


# ------------------------------------------------------------------------------------------ number formats
# (the templates' filters num, money, money0, pct, spct; scorecard.episode_table)

def missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def num(v, digits=2):
    return "" if missing(v) else f"{v:,.{digits}f}"


def money(v):
    return "" if missing(v) else (f"-${abs(v):,.2f}" if v < 0 else f"${v:,.2f}")


def money0(v):
    return "" if missing(v) else (f"-${abs(v):,.0f}" if v < 0 else f"${v:,.0f}")


def pct(v, digits=1):
    return "" if missing(v) else f"{100 * v:.{digits}f}%"


def spct(v, digits=1):
    return "" if missing(v) else f"{100 * v:+.{digits}f}%"
