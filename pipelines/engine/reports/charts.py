"""Charts of the scorecards: Vega-Lite specifications, written as plain dictionaries and embedded in the
HTML as JSON; the browser draws them with the Vega runtime shipped once in the reports folder
(`vega-embed.js`, vl-convert's offline bundle of Vega, Vega-Lite and Vega-Embed: no network at view
time). The run writes specifications, not pictures. Every function takes rows of the final tables and
draws them; none computes a rule (the band edges are the thresholds and deciles the tables hold).
`svg()` still renders a specification server-side (tests check every chart kind draws).

The specifications are built as dictionaries, not Altair objects: Altair's object model (deep copies on
every layer, shorthand lookups, schema validation) took as long as drawing on the demo's 300 scorecard
charts. tests/test_charts.py validates every chart kind against the Vega-Lite schema instead."""
from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
from importlib.metadata import version
from pathlib import Path

import vl_convert as vlc

from pipelines.engine.warehouse import write_text

WIDTH = 560
VL_VERSION = "6.4"  # the Vega-Lite schema of Altair 6 (alt.SCHEMA_VERSION)
SCHEMA = "https://vega.github.io/schema/vega-lite/v6.4.1.json"
POINT_COLORS = ["#b2182b", "#d6604d", "#f4a582", "#fddbc7", "#f7f7f7", "#e0f3f8", "#d1e5f0", "#92c5de", "#4393c3",
                "#2166ac"]
FIGURE_COLORS = {"Peer-pool estimate": "#1f4e79", "CMS-benchmark estimate": "#e08a00"}  # words.ESTIMATES
_XMLNS = re.compile(r'\s+xmlns(:xlink)?="[^"]*"')


def spec(body: dict) -> dict:
    """A top-level specification: the schema and Altair's default view size around `body`."""
    return {"$schema": SCHEMA, "config": {"view": {"continuousWidth": 300, "continuousHeight": 300}}, **body}


RUNTIME = "vega-embed.js"  # in the reports folder's root, written once per build
RUNTIME_LICENSE = "vega-embed.LICENSE.txt"  # names the versions: a runtime with the same notice is the same


def embed(chart: dict) -> str:
    """A specification as the JSON a chart container holds (`<script type="application/json">`, drawn by the
    page's loader in base.html.j2); "</" escaped so the JSON cannot close the script element."""
    text = json.dumps(chart, sort_keys=True, separators=(",", ":")).replace("</", "<\\/")
    return f'<script type="application/json" class="vl-spec">{text}</script>'


@functools.lru_cache(maxsize=1)
def runtime_bundle() -> str:
    """vl-convert's standard bundle (Vega, Vega-Lite for VL_VERSION and Vega-Embed on `window`), offline."""
    return vlc.javascript_bundle(vl_version=VL_VERSION)


def runtime_notice() -> str:
    return (f"{RUNTIME}: Vega {vlc.get_vega_version()}, Vega-Lite {VL_VERSION}, Vega-Embed {vlc.get_vega_embed_version()},\n"
            f"bundled by vl-convert {version('vl-convert-python')} (https://github.com/vega/vl-convert, BSD-3-Clause).\n"
            "Vega, Vega-Lite and Vega-Embed: Copyright (c) the University of Washington Interactive Data Lab, released\n"
            "under the BSD 3-Clause License (https://github.com/vega/vega/blob/main/LICENSE).\n")


def runtime_cache(notice: str) -> Path:
    """Where this machine keeps the runtime that `notice` names ($XDG_CACHE_HOME or ~/.cache, asm-pipeline/):
    bundling costs vl-convert 2-4 CPU seconds, paid once per vl-convert version, not once per reports folder."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "asm-pipeline"
    return root / f"vega-embed-{hashlib.sha256(notice.encode()).hexdigest()[:16]}.js"


def _cached_runtime(notice: str) -> Path | None:
    """The cached runtime `notice` names, bundled into the cache first if it is not there; None when the cache
    cannot be written (the caller bundles)."""
    path = runtime_cache(notice)
    if path.is_file():
        return path
    try:
        write_text(path, runtime_bundle())  # whole or absent: a reader never sees half a bundle
        return path
    except OSError:
        return None


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def write_runtime(folder, published=None) -> None:
    """The Vega runtime and its licence notice, once per reports folder. Bundling takes vl-convert a few
    seconds: a `published` reports folder whose notice names the same versions lends its copy (a hard link),
    else this machine's cached copy of the same versions (`runtime_cache`)."""
    folder, notice = Path(folder), runtime_notice()
    old = Path(published) if published else None
    same = (old is not None and (old / RUNTIME).is_file() and (old / RUNTIME_LICENSE).is_file()
            and (old / RUNTIME_LICENSE).read_text(encoding="utf-8") == notice)
    if same:
        if old.resolve() != folder.resolve():
            _link_or_copy(old / RUNTIME, folder / RUNTIME)
    elif (cached := _cached_runtime(notice)) is not None:
        _link_or_copy(cached, folder / RUNTIME)
    else:
        (folder / RUNTIME).write_text(runtime_bundle(), encoding="utf-8")
    (folder / RUNTIME_LICENSE).write_text(notice, encoding="utf-8")


def is_runtime(path: Path) -> bool:
    """Whether `path` is the Vega runtime as `write_runtime` puts it in a reports folder, byte for byte: third-party
    code, the same whatever the data, so the privacy scan does not read it. Its numeric constants are ids to a
    token match: at 100 M lines, 2^30 - 1 = 1073741823 was a clinician's NPI and refused the whole book."""
    return (path.name == RUNTIME and path.is_file()
            and hashlib.sha256(path.read_bytes()).hexdigest() == runtime_digest())


@functools.lru_cache(maxsize=1)
def runtime_digest() -> str:
    """SHA-256 of the runtime this machine writes (the cached bundle of these versions, else vl-convert's)."""
    cached = _cached_runtime(runtime_notice())
    return hashlib.sha256(cached.read_bytes() if cached else runtime_bundle().encode("utf-8")).hexdigest()


def svg(chart: dict) -> str:
    """Render a specification to inline SVG (namespace attributes dropped: HTML5 inline SVG needs none)."""
    return _render(json.dumps(chart, sort_keys=True))


@functools.lru_cache(maxsize=512)
def _render(text: str) -> str:
    """vl-convert takes 50-250 ms a chart and serves one call at a time: an identical specification (a
    `--tin` rerun, `asm report` after `asm run` in one process) is drawn once."""
    return _XMLNS.sub("", vlc.vegalite_to_svg(text, vl_version=VL_VERSION))


def _values(rows: list[dict]) -> dict:
    return {"values": rows}


def _q(field: str, **kw) -> dict:
    return {"field": field, "type": "quantitative", **kw}


def _n(field: str, **kw) -> dict:
    return {"field": field, "type": "nominal", **kw}


def _color_scale(domain: list[str], colors: list[str]) -> dict:
    return {"domain": domain, "range": colors}


def _cost_row(band: dict, marker: dict, distribution: dict | None) -> dict:
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
    x = _q("x", title=f"{band['figure']}: cost measure score ($, lower is better)",
           scale={"domain": [lo, hi], "nice": False}, axis={"format": "$,.0f", "tickCount": 8, "labelOverlap": True})
    layers = [{"data": _values(rects), "mark": {"type": "rect", "opacity": 0.85}, "encoding": {
        "x": x, "x2": {"field": "x2"},
        "color": {"field": "points", "type": "ordinal",
                  "scale": _color_scale([str(k) for k in range(1, 11)], POINT_COLORS),
                  "legend": {"title": "Cost points (band)", "orient": "right"}}}}]
    mark = _values([marker])
    if marker.get("low") is not None:
        layers.append({"data": mark, "mark": {"type": "rule", "strokeWidth": 2, "color": "#111"},
                       "encoding": {"x": _q("low"), "x2": {"field": "high"}}})
    layers.append({"data": mark, "mark": {"type": "tick", "thickness": 3, "size": 30, "color": "#111"},
                   "encoding": {"x": _q("score")}})
    if distribution:
        pool = _values([distribution])
        layers.append({"data": pool, "mark": {"type": "rule", "color": "#444", "strokeDash": [4, 2], "strokeWidth": 1.5},
                       "encoding": {"x": _q("p10"), "x2": {"field": "p90"}, "y": {"value": 8}}})
        layers.append({"data": pool, "mark": {"type": "point", "shape": "diamond", "color": "#444", "filled": True,
                                              "size": 50},
                       "encoding": {"x": _q("p50"), "y": {"value": 8}}})
    return {"layer": layers, "width": WIDTH, "height": 34}


def cost_position(bands: list[dict], marker: dict, distribution: dict | None) -> str:
    """Cost measure score on each reference distribution (pool-based, projected), one row each on its own
    scale, with the ten B3 bands, the pool's quantiles (pool row) and the participant's score with its
    interval. `bands`: {figure, t1..t10}; `marker`: {score, low, high}; `distribution`: p10..p90 of the pool."""
    rows = [_cost_row(b, marker, distribution if i == 0 and b["figure"] == "Peer-pool estimate" else None)
            for i, b in enumerate(bands) if all(b[f"t{k}"] is not None for k in range(1, 11))]
    if not rows or marker.get("score") is None:
        return ""
    return embed(spec({"vconcat": rows, "spacing": 14, "resolve": {"scale": {"x": "independent"}}}))


def quality_deciles(rows: list[dict]) -> str:
    """Per measure, the participant's points as a position on the ten deciles (decile d covers d..d+1; 10.0
    is the top), for the pool-based and the projected (CMS) benchmark. `rows`: {measure, figure, points}."""
    rows = [r for r in rows if r.get("points") is not None]
    if not rows:
        return ""
    measures = sorted({r["measure"] for r in rows})
    bands = [{"measure": mm, "x": float(d), "x2": float(d + 1), "decile": f"{d}"} for mm in measures for d in range(1, 11)]
    band = {"data": _values(bands), "mark": {"type": "rect", "opacity": 0.55, "stroke": "white"}, "encoding": {
        "x": _q("x", title="Points (decile + position within it)", scale={"domain": [0, 11], "nice": False}),
        "x2": {"field": "x2"}, "y": _n("measure", title=None),
        "color": {"field": "decile", "type": "ordinal",
                  "scale": _color_scale([str(d) for d in range(1, 11)], POINT_COLORS), "legend": None}}}
    dots = {"data": _values(rows), "mark": {"type": "point", "size": 90, "filled": True, "opacity": 0.95}, "encoding": {
        "x": _q("points"), "y": _n("measure"), "yOffset": _n("figure"),
        "color": _n("figure", scale=_color_scale(list(FIGURE_COLORS), list(FIGURE_COLORS.values())),
                    legend={"title": None, "orient": "bottom"}),
        "shape": _n("figure", legend=None)}}
    return embed(spec({"layer": [band, dots], "resolve": {"scale": {"color": "independent"}},
                     "width": WIDTH, "height": 30 * len(measures)}))


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
    order = [r["label"] for r in rows]
    domain = [min(0, *(r["start"] for r in rows), *(r["end"] for r in rows)), max(100, *(r["end"] for r in rows))]
    bars = {"mark": {"type": "bar", "size": 22}, "encoding": {
        "x": _n("label", sort=order, title=None, axis={"labelAngle": -25, "labelLimit": 200}),
        "y": _q("start", title="Final-score points", scale={"domain": domain}), "y2": {"field": "end"},
        "color": _n("kind", scale=_color_scale(["up", "down", "total"], ["#3c8d3c", "#b2182b", "#1f4e79"]),
                    legend=None)}}
    text = {"mark": {"type": "text", "dy": -8, "fontSize": 11}, "encoding": {
        "x": _n("label", sort=order), "y": _q("end"), "text": _n("text")}}
    return embed(spec({"data": _values(rows), "layer": [bars, text], "width": WIDTH, "height": 220, "title": title}))


def trend(rows: list[dict], value: str, title: str, y_title: str, domain: list[float]) -> str:
    """A figure over the PY by the data's last service date, with its interval band. `rows`: {as_of, value,
    low, high} (dates as ISO text). Drawn from two dates on: one point is no trend (the scorecard says so)."""
    rows = [r for r in rows if r.get(value) is not None]
    if len({r["as_of"] for r in rows}) < 2:
        return ""
    data = [{"as_of": r["as_of"], "value": r[value], "low": r.get(f"{value}_low"), "high": r.get(f"{value}_high")}
            for r in rows]
    x = {"field": "as_of", "type": "temporal", "title": "Data through (last service date)"}
    band = {"mark": {"type": "area", "opacity": 0.25, "color": "#e08a00"}, "encoding": {
        "x": x, "y": _q("low", title=y_title, scale={"domain": domain}), "y2": {"field": "high"}}}
    line = {"mark": {"type": "line", "point": True, "color": "#e08a00"}, "encoding": {"x": x, "y": _q("value")}}
    return embed(spec({"data": _values(data), "layer": [band, line], "width": WIDTH, "height": 160, "title": title}))


def cost_drivers(rows: list[dict], who: str = "This TIN") -> str:
    """C3: cost per episode by service category, the TIN's (or a clinician's) attributed episodes next to the
    cohort's. `rows`: {label, per_episode, cohort_per_episode}."""
    data = [{"category": r["label"], "who": name, "amount": r[col]} for r in rows
            for name, col in ((who, "per_episode"), ("Cohort", "cohort_per_episode")) if r.get(col) is not None]
    if not data:
        return ""
    return embed(spec({"data": _values(data), "mark": {"type": "bar"}, "encoding": {
        "y": _n("category", title=None, sort=[r["label"] for r in rows]), "x": _q("amount", title="$ per episode"),
        "yOffset": _n("who"),
        "color": _n("who", scale=_color_scale([who, "Cohort"], ["#1f4e79", "#9db7d5"]),
                    legend={"title": None, "orient": "bottom"})},
        "width": WIDTH - 60, "height": 26 * len(rows)}))
