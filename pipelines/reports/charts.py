"""Charts of the scorecards: Altair specifications rendered offline to SVG by vl-convert (no script, no
network at view time), inlined in the HTML. Every function takes rows of the final tables and draws them;
none computes a rule (the band edges are the thresholds and deciles the tables hold)."""
from __future__ import annotations

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
    """Render to inline SVG (namespace attributes dropped: HTML5 inline SVG needs none)."""
    text = vlc.vegalite_to_svg(chart.to_json(), vl_version=VL_VERSION)
    return _XMLNS.sub("", text)


def _frame(rows: list[dict], schema: dict | None = None) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema, infer_schema_length=None)


def cost_position(bands: list[dict], marker: dict, distribution: dict | None) -> str:
    """Cost measure score on each reference distribution (rows: pool-based, projected) with the ten B3 bands
    (points 1..10 between thresholds T1..T10), the pool's quantiles and the participant's score with its
    interval. `bands`: {figure, t1..t10}; `marker`: {score, low, high}; `distribution`: p10..p90 of the pool."""
    edges = [v for b in bands for v in (b[f"t{k}"] for k in range(1, 11)) if v is not None]
    edges += [v for v in (marker.get("score"), marker.get("low"), marker.get("high")) if v is not None]
    if not edges:
        return ""
    lo, hi = min(edges), max(edges)
    pad = (hi - lo) * 0.12 or abs(hi) * 0.1 or 1.0
    lo, hi = lo - pad, hi + pad
    rects = []
    for b in bands:
        t = [b[f"t{k}"] for k in range(1, 11)]
        if any(v is None for v in t):
            continue
        cuts = [hi, *t, lo]  # B3: above T1 -> 1; T(k+1)..T(k) -> k (+ partial); at or below T10 -> 10
        for i in range(11):
            rects.append({"figure": b["figure"], "x": cuts[i + 1], "x2": cuts[i], "points": f"{max(1, i)}"})
    base = alt.Chart(_frame(rects)).mark_rect(opacity=0.85).encode(
        x=alt.X("x:Q", title="Cost measure score ($, lower is better)", scale=alt.Scale(domain=[lo, hi], nice=False)),
        x2="x2:Q", y=alt.Y("figure:N", title=None),
        color=alt.Color("points:O", scale=alt.Scale(domain=[str(k) for k in range(1, 11)], range=POINT_COLORS),
                        legend=alt.Legend(title="Cost points", orient="bottom", direction="horizontal")))
    layers = [base]
    marks = _frame([{"figure": b["figure"], **marker} for b in bands])
    if marker.get("low") is not None:
        layers.append(alt.Chart(marks).mark_rule(strokeWidth=2, color="#111").encode(
            x="low:Q", x2="high:Q", y="figure:N"))
    layers.append(alt.Chart(marks).mark_tick(thickness=3, size=26, color="#111").encode(x="score:Q", y="figure:N"))
    if distribution:
        pool = _frame([{"figure": bands[0]["figure"], **distribution}])
        layers.append(alt.Chart(pool).mark_tick(color="#555", size=10, thickness=1).encode(
            x="p50:Q", y=alt.Y("figure:N")))
        layers.append(alt.Chart(pool).mark_rule(color="#555", strokeDash=[3, 2]).encode(x="p10:Q", x2="p90:Q",
                                                                                        y="figure:N"))
    return svg(alt.layer(*layers).properties(width=WIDTH, height=36 * len(bands)))


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
        x2="x2:Q", y=alt.Y("measure:N", title=None),
        color=alt.Color("decile:O", scale=alt.Scale(domain=[str(d) for d in range(1, 11)], range=POINT_COLORS),
                        legend=None))
    dots = alt.Chart(_frame(rows)).mark_point(size=90, filled=True, opacity=0.95).encode(
        x="points:Q", y="measure:N", yOffset=alt.YOffset("figure:N"),
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
        y2="end:Q",
        color=alt.Color("kind:N", scale=alt.Scale(domain=["up", "down", "total"],
                                                  range=["#3c8d3c", "#b2182b", "#1f4e79"]), legend=None))
    text = alt.Chart(data).mark_text(dy=-8, fontSize=11).encode(
        x=alt.X("label:N", sort=order), y="end:Q", text="text:N")
    return svg(alt.layer(bars, text).properties(width=WIDTH, height=220, title=title))


def trend(rows: list[dict], value: str, title: str, y_title: str, domain: list[float]) -> str:
    """A figure over the PY by the data's last service date, with its interval band. `rows`: {as_of, value,
    low, high} (dates as ISO text)."""
    rows = [r for r in rows if r.get(value) is not None]
    if not rows:
        return ""
    data = _frame([{"as_of": r["as_of"], "value": r[value], "low": r.get(f"{value}_low"),
                    "high": r.get(f"{value}_high")} for r in rows])
    x = alt.X("as_of:T", title="Data through (last service date)")
    band = alt.Chart(data).mark_area(opacity=0.25, color="#e08a00").encode(
        x=x, y=alt.Y("low:Q", title=y_title, scale=alt.Scale(domain=domain)), y2="high:Q")
    line = alt.Chart(data).mark_line(point=True, color="#e08a00").encode(x=x, y="value:Q")
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
        yOffset="who:N", color=alt.Color("who:N", scale=alt.Scale(domain=["This TIN", "Cohort"],
                                                                  range=["#1f4e79", "#9db7d5"]),
                                         legend=alt.Legend(title=None, orient="bottom")))
    return svg(chart.properties(width=WIDTH - 60, height=26 * len(rows)))
