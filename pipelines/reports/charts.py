"""Charts of the scorecards: Altair specifications rendered offline to SVG by vl-convert (no script, no
network at view time), inlined in the HTML. Every function takes rows of the final tables and draws them;
none computes a rule (the band edges are the thresholds and deciles the tables hold)."""
from __future__ import annotations

import functools
import re

import altair as alt
import polars as pl
import vl_convert as vlc

WIDTH = 560
VL_VERSION = "6.4"  # the Vega-Lite schema of Altair 6 (alt.SCHEMA_VERSION)
POINT_COLORS = ["#b2182b", "#d6604d", "#f4a582", "#fddbc7", "#f7f7f7", "#e0f3f8", "#d1e5f0", "#92c5de", "#4393c3",
                "#2166ac"]
FIGURE_COLORS = {"Pool-based": "#1f4e79", "Projected (CMS)": "#e08a00"}
_XMLNS = re.compile(r'\s+xmlns(:xlink)?="[^"]*"')


def svg(chart: alt.TopLevelMixin) -> str:
    """Render to inline SVG (namespace attributes dropped: HTML5 inline SVG needs none). The specification is
    not validated against the Vega-Lite JSON schema on every render (a third of the reports' time on the
    demo); tests/test_charts.py validates each chart kind once."""
    return _render(chart.to_json(validate=False))


@functools.lru_cache(maxsize=512)
def _render(spec: str) -> str:
    """vl-convert takes 50-250 ms a chart and serves one call at a time: an identical specification (a
    `--tin` rerun, `asm report` after `asm run` in one process) is drawn once."""
    return _XMLNS.sub("", vlc.vegalite_to_svg(spec, vl_version=VL_VERSION))


def _frame(rows: list[dict], schema: dict | None = None) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema, infer_schema_length=None)


def _cost_row(band: dict, marker: dict, distribution: dict | None) -> alt.LayerChart:
    """One reference distribution: the eleven B3 regions between T1..T10 (above T1 earns 1, at or below T10
    earns 10), the pool's 10th-90th percentile and median, the participant's score and interval."""
    t = [band[f"t{k}"] for k in range(1, 11)]
    values = [v for v in (*t, marker.get("score"), marker.get("low"), marker.get("high")) if v is not None]
    if distribution:
        values += [distribution[k] for k in ("p10", "p90") if distribution.get(k) is not None]
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.08 or abs(hi) * 0.1 or 1.0
    lo, hi = lo - pad, hi + pad
    cuts = [hi, *t, lo]
    rects = [{"x": cuts[i + 1], "x2": cuts[i], "points": f"{max(1, i)}"} for i in range(11)]
    x = alt.X("x:Q", title=f"{band['figure']}: cost measure score ($, lower is better)",
              scale=alt.Scale(domain=[lo, hi], nice=False),
              axis=alt.Axis(format="$,.0f", tickCount=8, labelOverlap=True))
    layers = [alt.Chart(_frame(rects)).mark_rect(opacity=0.85).encode(
        x=x, x2=alt.X2("x2"),
        color=alt.Color("points:O", scale=alt.Scale(domain=[str(k) for k in range(1, 11)], range=POINT_COLORS),
                        legend=alt.Legend(title="Cost points (band)", orient="right")))]
    mark = _frame([marker])
    if marker.get("low") is not None:
        layers.append(alt.Chart(mark).mark_rule(strokeWidth=2, color="#111").encode(x=alt.X("low:Q"), x2=alt.X2("high")))
    layers.append(alt.Chart(mark).mark_tick(thickness=3, size=30, color="#111").encode(x=alt.X("score:Q")))
    if distribution:
        pool = _frame([distribution])
        layers.append(alt.Chart(pool).mark_rule(color="#444", strokeDash=[4, 2], strokeWidth=1.5).encode(
            x=alt.X("p10:Q"), x2=alt.X2("p90"), y=alt.YValue(8)))
        layers.append(alt.Chart(pool).mark_point(shape="diamond", color="#444", filled=True, size=50).encode(
            x=alt.X("p50:Q"), y=alt.YValue(8)))
    return alt.layer(*layers).properties(width=WIDTH, height=34)


def cost_position(bands: list[dict], marker: dict, distribution: dict | None) -> str:
    """Cost measure score on each reference distribution (pool-based, projected), one row each on its own
    scale, with the ten B3 bands, the pool's quantiles (pool row) and the participant's score with its
    interval. `bands`: {figure, t1..t10}; `marker`: {score, low, high}; `distribution`: p10..p90 of the pool."""
    rows = [_cost_row(b, marker, distribution if i == 0 and b["figure"] == "Pool-based" else None)
            for i, b in enumerate(bands) if all(b[f"t{k}"] is not None for k in range(1, 11))]
    if not rows or marker.get("score") is None:
        return ""
    return svg(alt.vconcat(*rows, spacing=14).resolve_scale(x="independent"))


def quality_deciles(rows: list[dict]) -> str:
    """Per measure, the participant's points as a position on the ten deciles (decile d covers d..d+1; 10.0
    is the top), for the pool-based and the projected (CMS) benchmark. `rows`: {measure, figure, points}."""
    rows = [r for r in rows if r.get("points") is not None]
    if not rows:
        return ""
    measures = sorted({r["measure"] for r in rows})
    bands = _frame([{"measure": mm, "x": float(d), "x2": float(d + 1), "decile": f"{d}"}
                    for mm in measures for d in range(1, 11)])
    band = alt.Chart(bands).mark_rect(opacity=0.55, stroke="white").encode(
        x=alt.X("x:Q", title="Points (decile + position within it)", scale=alt.Scale(domain=[0, 11], nice=False)),
        x2=alt.X2("x2"), y=alt.Y("measure:N", title=None),
        color=alt.Color("decile:O", scale=alt.Scale(domain=[str(d) for d in range(1, 11)], range=POINT_COLORS),
                        legend=None))
    dots = alt.Chart(_frame(rows)).mark_point(size=90, filled=True, opacity=0.95).encode(
        x=alt.X("points:Q"), y=alt.Y("measure:N"), yOffset=alt.YOffset("figure:N"),
        color=alt.Color("figure:N", scale=alt.Scale(domain=list(FIGURE_COLORS), range=list(FIGURE_COLORS.values())),
                        legend=alt.Legend(title=None, orient="bottom")),
        shape=alt.Shape("figure:N", legend=None))
    return svg(alt.layer(band, dots).resolve_scale(color="independent").properties(width=WIDTH,
                                                                                    height=30 * len(measures)))


def waterfall(steps: list[dict], title: str) -> str:
    """S1 as a waterfall: each step from the running total before it to after it; the final score from 0.
    `steps`: {label, value, running_total, step_order, step}."""
    if not steps:
        return ""
    rows = []
    for s in sorted(steps, key=lambda r: r["step_order"]):
        end = s["running_total"]
        start = 0.0 if s["step"] == "final" else end - (s["value"] or 0.0)
        kind = "total" if s["step"] == "final" else ("up" if (s["value"] or 0) >= 0 else "down")
        rows.append({"label": s["label"], "start": start, "end": end, "kind": kind, "order": s["step_order"],
                     "text": f"{s['value']:+.1f}" if s["step"] != "final" else f"{s['value']:.1f}"})
    data = _frame(rows)
    order = [r["label"] for r in rows]
    bars = alt.Chart(data).mark_bar(size=22).encode(
        x=alt.X("label:N", sort=order, title=None, axis=alt.Axis(labelAngle=-25, labelLimit=200)),
        y=alt.Y("start:Q", title="Final-score points", scale=alt.Scale(domain=[min(0, *data["start"], *data["end"]),
                                                                                max(100, *data["end"])])),
        y2=alt.Y2("end"),
        color=alt.Color("kind:N", scale=alt.Scale(domain=["up", "down", "total"],
                                                  range=["#3c8d3c", "#b2182b", "#1f4e79"]), legend=None))
    text = alt.Chart(data).mark_text(dy=-8, fontSize=11).encode(
        x=alt.X("label:N", sort=order), y=alt.Y("end:Q"), text=alt.Text("text:N"))
    return svg(alt.layer(bars, text).properties(width=WIDTH, height=220, title=title))


def trend(rows: list[dict], value: str, title: str, y_title: str, domain: list[float]) -> str:
    """A figure over the PY by the data's last service date, with its interval band. `rows`: {as_of, value,
    low, high} (dates as ISO text). Drawn from two dates on: one point is no trend (the scorecard says so)."""
    rows = [r for r in rows if r.get(value) is not None]
    if len({r["as_of"] for r in rows}) < 2:
        return ""
    data = _frame([{"as_of": r["as_of"], "value": r[value], "low": r.get(f"{value}_low"),
                    "high": r.get(f"{value}_high")} for r in rows])
    x = alt.X("as_of:T", title="Data through (last service date)")
    band = alt.Chart(data).mark_area(opacity=0.25, color="#e08a00").encode(
        x=x, y=alt.Y("low:Q", title=y_title, scale=alt.Scale(domain=domain)), y2=alt.Y2("high"))
    line = alt.Chart(data).mark_line(point=True, color="#e08a00").encode(x=x, y=alt.Y("value:Q"))
    return svg(alt.layer(band, line).properties(width=WIDTH, height=160, title=title))


def cost_drivers(rows: list[dict]) -> str:
    """C3: cost per episode by service category, the TIN's attributed episodes next to the cohort's.
    `rows`: {label, per_episode, cohort_per_episode}."""
    data = [{"category": r["label"], "who": who, "amount": r[col]} for r in rows
            for who, col in (("This TIN", "per_episode"), ("Cohort", "cohort_per_episode")) if r.get(col) is not None]
    if not data:
        return ""
    chart = alt.Chart(_frame(data)).mark_bar().encode(
        y=alt.Y("category:N", title=None, sort=[r["label"] for r in rows]), x=alt.X("amount:Q", title="$ per episode"),
        yOffset=alt.YOffset("who:N"), color=alt.Color("who:N", scale=alt.Scale(domain=["This TIN", "Cohort"],
                                                                  range=["#1f4e79", "#9db7d5"]),
                                         legend=alt.Legend(title=None, orient="bottom")))
    return svg(chart.properties(width=WIDTH - 60, height=26 * len(rows)))
