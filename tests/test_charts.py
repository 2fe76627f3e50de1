"""The scorecard charts (pipelines/engine/reports/charts.py): every chart kind builds a Vega-Lite specification
that is valid against the schema (the reports render without validating, for speed, so it is checked
here once per kind) and renders to an SVG with its marks; a trend needs two data dates."""
from __future__ import annotations

import json
import re

import jsonschema
import pytest

from pipelines.engine.reports import charts

BANDS = [{"figure": "Peer-pool estimate", **{f"t{k}": 20000.0 - 1500 * k for k in range(1, 11)}},
         {"figure": "CMS-benchmark estimate", **{f"t{k}": 21000.0 - 1400 * k for k in range(1, 11)}}]


@pytest.fixture
def validated(monkeypatch):
    """Every chart passed to charts.embed is validated against the Vega-Lite schema (Altair's copy) and drawn
    server-side (charts.svg) to check it renders; the embedded JSON must give back the same specification."""
    from altair.vegalite.v6.schema.core import load_schema

    schema = load_schema()
    seen = []
    embed = charts.embed

    def checked(chart):
        jsonschema.validate(chart, schema)  # raises on a specification Vega-Lite would reject
        html = embed(chart)
        body = html.removeprefix('<script type="application/json" class="vl-spec">').removesuffix("</script>")
        assert "</" not in body and json.loads(body.replace("<\\/", "</")) == chart
        seen.append(chart)
        return charts.svg(chart)

    monkeypatch.setattr(charts, "embed", checked)
    return seen


def _marks(svg: str) -> int:
    return len(re.findall(r"<(path|rect|line|circle|text)\b", svg))


def test_every_chart_kind_is_a_valid_spec_and_renders(validated):
    drawn = {
        "cost": charts.cost_position(BANDS, {"score": 12000.0, "low": 10500.0, "high": 13800.0},
                                     {"p10": 9000.0, "p50": 12500.0, "p90": 17000.0}),
        "quality": charts.quality_deciles([{"measure": "Q236", "figure": "Peer-pool estimate", "points": 6.4},
                                           {"measure": "Q236", "figure": "CMS-benchmark estimate", "points": 5.1},
                                           {"measure": "Q047", "figure": "Peer-pool estimate", "points": 9.0}]),
        "waterfall": charts.waterfall([
            {"label": "Quality", "value": 30.0, "running_total": 30.0, "step_order": 1, "step": "quality"},
            {"label": "Cost", "value": 25.0, "running_total": 55.0, "step_order": 2, "step": "cost"},
            {"label": "IA gap", "value": -5.0, "running_total": 50.0, "step_order": 3, "step": "ia"},
            {"label": "Final score", "value": 50.0, "running_total": 50.0, "step_order": 4, "step": "final"}],
            "Final score, step by step"),
        "trend": charts.trend([{"as_of": "2027-03-31", "projected_final_score": 48.0,
                                "projected_final_score_low": 40.0, "projected_final_score_high": 55.0},
                               {"as_of": "2027-06-30", "projected_final_score": 52.0,
                                "projected_final_score_low": 46.0, "projected_final_score_high": 57.0}],
                              "projected_final_score", "Projected final score", "Final score", [0, 100]),
        "drivers": charts.cost_drivers([{"label": "Inpatient", "per_episode": 9000.0, "cohort_per_episode": 8000.0},
                                        {"label": "Part B", "per_episode": 2500.0, "cohort_per_episode": 3000.0}]),
    }
    assert len(validated) == len(drawn)
    for kind, svg in drawn.items():
        assert svg.startswith("<svg") and "xmlns" not in svg, kind
        assert _marks(svg) >= 10, kind


def test_an_invalid_specification_is_caught(validated):
    with pytest.raises(jsonschema.ValidationError):
        charts.embed(charts.spec({"mark": {"type": "bar"}, "encoding": {"x": {"field": "a", "type": "amount"}}}))


def test_a_trend_needs_two_data_dates(validated):
    one = [{"as_of": "2027-03-31", "projected_final_score": 48.0}]
    assert charts.trend(one, "projected_final_score", "t", "y", [0, 100]) == ""
    assert charts.trend(one * 2, "projected_final_score", "t", "y", [0, 100]) == ""  # the same date twice
    assert validated == []
