"""Plain language in the reports (issue 19, item 3): rule ids leave sentences for a tooltip marker, codes
become words, measures carry CMS's titles, each measure's rate has one unit. No pipeline run."""
from __future__ import annotations

import polars as pl
import pytest

from pipelines.engine.methodology import load_methodology
from pipelines.engine.reports import words
from pipelines.engine.reports.scorecard import rate_text


@pytest.mark.parametrize("text, plain, ids", [
    # a table's reason with its rule as a prefix: the topic word replaces the id (G3 = location)
    ("G3: CBSA 90080 is not selected", "Location: CBSA 90080 is not selected", ["G3"]),
    ("S7/R5: fewer attributed episodes than the case minimum",
     "Case minimum: fewer attributed episodes than the case minimum", ["S7/R5"]),
    # an id labelling a clause inside the sentence, and one in parentheses
    ("excluded: X1: age under 18 on the trigger date", "excluded: age under 18 on the trigger date", ["X1"]),
    ("open: cost to date, not scored yet (E5)", "open: cost to date, not scored yet", ["E5"]),
    ("data completeness below 75% (Q3): 0 points", "data completeness below 75%: 0 points", ["Q3"]),
    # a rule named by its id inside a clause: a phrase says what it is
    ("S6: no IA attestation row for the TIN and PY; no non-claims measure meeting Q3",
     "Minimum submission: no IA attestation row for the TIN and PY; no non-claims measure meeting the "
     "data-completeness minimum", ["S6"]),
    # no rule: unchanged
    ("peer pool of 172 >= 30 participants", "peer pool of 172 >= 30 participants", []),
])
def test_split_rules_moves_rule_ids_out_of_the_sentence(text, plain, ids):
    got, found = words.split_rules(text)
    assert got == plain and found == ids


def test_plain_names_measures_and_collection_types():
    # Q008 is CMS's "Beta-Blocker Therapy for LVSD" (data/reference/qpp/mips_measures_2027.csv)
    assert words.plain("Report 3 more case(s) of Q008 ecqm") == \
        "Report 3 more case(s) of Beta-blocker therapy for LVSD (Q008) eCQM"
    assert "Beta-Blocker Therapy" in words.measure_title("Q008", short=False)
    assert words.measure_title("Q999") == "Q999"  # not in CMS's list: the id itself
    assert words.collection_type("mips_cqm") == "MIPS CQM (registry)"


def test_plain_html_puts_the_rule_in_a_tooltip_marker_and_escapes():
    html = str(words.plain_html("G4: 18 attributed episodes < 20"))
    assert html.startswith("Volume: 18 attributed episodes &lt; 20<sup class=\"rule\"")
    assert 'title="Methodology rule G4"' in html and ">G4<" not in html


def test_status_words_not_codes():
    m = load_methodology(2027)
    assert words.status("below_case_minimum", m) == \
        "Not scored: fewer than 20 attributed episodes (reports through MIPS)"
    assert words.status("failed_minimum_submission") == "Scored 0: minimum submission not met"
    assert "Q4" not in words.measure_status("Q4_below_case_minimum", m)


@pytest.mark.parametrize("row, text", [
    ({"measure_id": "Q236", "rate_cms_units": 0.7432, "rate_scale": None}, "74.3%"),  # a fraction
    ({"measure_id": "Q236", "rate_cms_units": 74.32, "rate_scale": 100.0}, "74.3%"),  # CMS's percent
    ({"measure_id": "Q492", "rate_cms_units": 65.61, "rate_scale": 1.0}, "65.6 per 100 person-years"),
    ({"measure_id": "Q236", "rate_cms_units": None, "rate_scale": None}, ""),
])
def test_one_unit_per_measure(row, text):
    shown = pl.DataFrame([row], schema={"measure_id": pl.String, "rate_cms_units": pl.Float64, "rate_scale": pl.Float64})
    assert rate_text(shown.with_columns(words.rate_in_unit()).row(0, named=True)) == text
