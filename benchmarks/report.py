"""What the benchmark suite prints and keeps: the definitions, the targets (issues 12 and 20) with their
verdicts, the results table, the scaling curve (wall time and peak RSS against lines, and the exponent), and benchmarks/RESULTS.md (one section per scale, replaced by the
latest run at that scale; one history line per run). Pure functions over a run record (a dict, also
saved as JSON next to the data), so they can be tested without running a benchmark.

A run record: {date, commit, scale, seed, lines, threads, memory_limit, repeats, machine: {...},
load_before, load_after, rows: [row]}; a row: {key, label, kind (baseline | stage | pipeline),
seconds: [per repeat], rss: [bytes per repeat], x_scan: [paired ratios], x_copy: [paired ratios],
load: [1-minute load average at the start of each repeat], steps: {step: [seconds per repeat]},
errors: [one line each], notes: {...}}.
"""
from __future__ import annotations

import re
import statistics
from pathlib import Path

GB = 1e9  # DuckDB's "GB" (memory_limit) and the targets' GB: 10^9 bytes

DEFINITIONS = """\
- **lines**: rows of the CCLF5 (`*ZC5*.parquet`) input files, as `asm generate --scale N --format parquet --seed S`
  wrote them (cached per scale and seed under the work folder, `/tmp/asm-bench/<N>-seed<S>/in`).
- **bare scan** (DuckDB, same threads and memory limit):
  `SELECT BENE_MBI_ID, count(*), sum(TRY_CAST(CLM_LINE_ALOWD_CHRG_AMT AS DECIMAL(18,2))) FROM read_parquet('<in>/*ZC5*.parquet') GROUP BY 1`.
- **bare copy** (DuckDB, same threads and memory limit):
  `COPY (SELECT * FROM read_parquet('<in>/*ZC5*.parquet')) TO x.parquet (FORMAT parquet, COMPRESSION zstd)`.
- **stages**, each in its own child process (so its peak RSS is its own), calling the engine functions the
  assets call, tables written straight to `OUT/warehouse`:
  ingest `pipelines.engine.ingest.run_ingest`, **cold** (empty staging cache `OUT/.ingest`) and **warm** (a nightly
  run: the cache of a run on every file but the newest ZC5 delivery, then that delivery added back: only it
  is staged again); episodes `pipelines.engine.episodes.run_episodes`; eligibility, episode_risk and scoring
  `pipelines.engine.scoring.stage.compute_eligibility`, `compute_episode_risk`, `compute_scores`, each with its
  writes; reports `pipelines.engine.reports.write_reports`; checks `pipelines.engine.quality_gates.evaluate` over every
  asset with a suite (`expectations/*.json`), including the one-off Great Expectations import.
- **whole pipeline**: `asm run --input <in> --out <fresh folder> --threads T --quiet [--memory-limit M]` as a
  child process (Dagster in process, every check, staging and publishing): cold, nothing cached.
- **wall s**: a stage's own seconds inside its child (interpreter start-up and imports excluded); the
  whole pipeline's is the whole `asm run` process. The median over `--repeats`.
- **peak RSS**: the child's maximum resident set size (`wait4` rusage), the largest over repeats, in GB (10^9 bytes).
- **× scan / × copy**: each stage run is followed at once by a bare scan (ingest and the whole pipeline by a
  bare copy too); the ratio is taken pair by pair and the median quoted, so a slower or faster machine
  moment hits both sides. A × copy marked `*` has no copy run of its own: the stage's median over the
  median of the run's copies.
- **load**: the 1-minute load average when the measurement started (the machine has 2 cores and is shared:
  above 2, other work competed for the CPU and every absolute time is inflated; ratios less so)."""

TARGETS_TEXT = """\
- 10 M lines end to end (whole pipeline, every TIN's scorecard) **under 120 s**; peak RSS at 10 M **under 4 GB**.
- ingest (cold) at most **2×** the bare copy; a night's delivery (ingest warm: one new monthly delivery on
  yesterday's cache) at most **0.25×** the cold ingest of the same run.
- every stage after ingest at most **5×** the bare scan.
- 100 M lines end to end, every TIN reported, **within `--memory-limit 16GB`** (DuckDB `memory_limit`,
  `temp_directory` OUT/.tmp, spilling allowed; peak RSS measured, at most 16 GB) and in at most **12×** the
  latest 10 M whole-pipeline time in RESULTS.md.
- scaling curve: the exponent of whole-pipeline time against lines **≤ 1.1** (the aim)."""

PIPELINE_SECONDS_AT_10M = 120.0
RSS_AT_10M = 4 * GB
INGEST_X_COPY = 2.0
WARM_X_COLD = 0.25
STAGE_X_SCAN = 5.0
LIMIT_AT_100M = 16 * GB
TIME_100M_X_10M = 12.0
EXPONENT_AIM = 1.1


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def parse_size(text: str) -> float | None:
    """'20GB' -> bytes, as the pipeline reads --memory-limit (pipelines.engine.duck.parse_size)."""
    from pipelines.engine.duck import parse_size as parse

    return parse(text)


# ------------------------------------------------------------------------------------------ targets

def row_target(run: dict, row: dict) -> tuple[str, str]:
    """(target text, PASS | FAIL | '') of one row of the table."""
    if row["errors"]:
        return "", "FAIL"
    if row["key"] == "ingest_cold":
        x = median(row["x_copy"])
        return f"≤ {INGEST_X_COPY:g}× copy", _verdict(x is not None and x <= INGEST_X_COPY)
    if row["key"] == "ingest_warm":
        x = warm_x_cold(run)
        return (f"≤ {WARM_X_COLD:g}× cold", _verdict(x <= WARM_X_COLD)) if x is not None else ("", "")
    if row["kind"] == "stage" and not row["key"].startswith("ingest"):
        x = median(row["x_scan"])
        return f"≤ {STAGE_X_SCAN:g}× scan", _verdict(x is not None and x <= STAGE_X_SCAN)
    if row["kind"] == "pipeline":
        return pipeline_target(run, row)
    return "", ""


def pipeline_target(run: dict, row: dict) -> tuple[str, str]:
    wall, rss = median(row["seconds"]), max(row["rss"], default=0)
    if run["scale"] == 10_000_000:
        return (f"< {PIPELINE_SECONDS_AT_10M:g} s, < {RSS_AT_10M / GB:g} GB",
                _verdict(wall < PIPELINE_SECONDS_AT_10M and rss < RSS_AT_10M))
    if run["scale"] == 100_000_000:
        limit = parse_size(run["memory_limit"])
        if limit is None or limit > LIMIT_AT_100M:
            return f"limit {LIMIT_AT_100M / GB:g} GB", f"n/a: run with --memory-limit {LIMIT_AT_100M / GB:g}GB"
        ten = run.get("pipeline_seconds_10m")
        if ten:
            return (f"≤ {LIMIT_AT_100M / GB:g} GB, ≤ {TIME_100M_X_10M:g}× 10 M ({ten:,.0f} s)",
                    _verdict(rss <= LIMIT_AT_100M and wall <= TIME_100M_X_10M * ten))
        return f"≤ {LIMIT_AT_100M / GB:g} GB (no 10 M time to compare)", _verdict(rss <= LIMIT_AT_100M)
    return "", ""


def warm_x_cold(run: dict) -> float | None:
    """A night's delivery: the warm ingest's median over the cold ingest's median of the same run."""
    rows = {r["key"]: r for r in run["rows"]}
    warm, cold = (median(rows[k]["seconds"]) if k in rows else None for k in ("ingest_warm", "ingest_cold"))
    return warm / cold if warm and cold else None


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def target_lines(run: dict) -> list[str]:
    """One line per target that applies at this scale, with the measured figure and PASS/FAIL."""
    rows = {r["key"]: r for r in run["rows"]}
    out = []
    pipe = rows.get("pipeline")
    if pipe and run["scale"] in (10_000_000, 100_000_000):
        target, verdict = pipeline_target(run, pipe)
        out.append(f"- whole pipeline at {run['scale']:,}: {_fmt(median(pipe['seconds']), 1)} s, peak RSS "
                   f"{_gb(max(pipe['rss'], default=0))} GB, target {target}: **{verdict if not pipe['errors'] else 'FAIL'}**"
                   + (f" ({pipe['errors'][0]})" if pipe["errors"] else ""))
    for r in run["rows"]:
        if r["kind"] == "stage":
            target, verdict = row_target(run, r)
            if verdict:
                x = (warm_x_cold(run) if r["key"] == "ingest_warm"
                     else median(r["x_copy"] if r["key"] == "ingest_cold" else r["x_scan"]))
                out.append(f"- {r['label']}: {_fmt(x, 2)}×, target {target}: **{verdict}**")
    return out


# ------------------------------------------------------------------------------------------ table

HEADER = ("| run | lines | wall s | lines/s | peak RSS GB | × scan | × copy | target | verdict | load |\n"
          "|---|---:|---:|---:|---:|---:|---:|---|---|---:|")


def _fmt(x: float | None, digits: int) -> str:
    return "—" if x is None else f"{x:,.{digits}f}"


def _gb(b: float) -> str:
    return f"{b / GB:.2f}"


def table_row(run: dict, row: dict, copy_median: float | None) -> str:
    wall = median(row["seconds"])
    x_copy = median(row["x_copy"])
    copy_cell = _fmt(x_copy, 2)
    if x_copy is None and wall is not None and copy_median and row["key"] != "scan":
        copy_cell = f"{wall / copy_median:.2f}*"
    x_scan = "1.00" if row["key"] == "scan" else _fmt(median(row["x_scan"]), 2)
    target, verdict = row_target(run, row)
    error = f" — FAILED: {row['errors'][0]}" if row["errors"] else ""
    return (f"| {row['label']}{error} | {run['lines']:,} | {_fmt(wall, 1)} | "
            f"{_fmt(run['lines'] / wall if wall else None, 0)} | {_gb(max(row['rss'], default=0))} | {x_scan} | "
            f"{'1.00' if row['key'] == 'copy' else copy_cell} | {target} | {verdict} | {_fmt(median(row['load']), 1)} |")


def results_table(run: dict) -> str:
    copy = next((r for r in run["rows"] if r["key"] == "copy"), None)
    copy_median = median(copy["seconds"]) if copy else None
    return "\n".join([HEADER, *(table_row(run, r, copy_median) for r in run["rows"])])


def top_steps(run: dict, n: int = 12) -> list[tuple[str, str, float, float]]:
    """(stage label, step, median seconds, share of the stage) of the slowest steps of every stage."""
    found = []
    for r in run["rows"]:
        wall = median(r["seconds"])
        if r["kind"] == "pipeline":
            continue
        for step, secs in r.get("steps", {}).items():
            s = median(secs)
            if s is not None and wall:
                found.append((r["label"], step, s, s / wall))
    return sorted(found, key=lambda t: -t[2])[:n]


def machine_line(run: dict) -> str:
    m = run["machine"]
    lb, la = run["load_before"], run["load_after"]
    return (f"{m['cores']} cores ({m['cpu']}), {m['ram_gib']:.1f} GiB RAM, {m['os']}; Python {m['python']}, "
            f"DuckDB {m['duckdb']}, Polars {m['polars']}; load average (1/5/15 min) "
            f"{'/'.join(f'{x:.2f}' for x in lb)} before, {'/'.join(f'{x:.2f}' for x in la)} after")


def section(run: dict) -> str:
    """The whole text of one scale's section: heading, machine, table, targets, slowest steps."""
    head = (f"### {run['scale']:,} lines (scale {run['scale']}, seed {run['seed']})\n\n"
            f"{run['date']}, commit `{run['commit']}`; {run['lines']:,} Part B lines; threads {run['threads']}, "
            f"memory limit {run['memory_limit'] or 'none (DuckDB default)'}, repeats {run['repeats']}.\n"
            f"Machine: {machine_line(run)}.\n")
    parts = [head, results_table(run), "", "Targets (issues 12 and 20):", *(target_lines(run) or ["- none apply"])]
    steps = top_steps(run)
    if steps:
        parts += ["", "Slowest steps (the stages' `step_seconds`, median):", "",
                  "| stage | step | s | share of stage |", "|---|---|---:|---:|",
                  *(f"| {st} | {name} | {s:.1f} | {share:.0%} |" for st, name, s, share in steps)]
    pipe = next((r for r in run["rows"] if r["kind"] == "pipeline" and r["steps"]), None)
    if pipe:
        parts += ["", "Whole pipeline by stage (`seconds` of each asset in run_summary.json; the rest is checks, "
                  "staging, publishing and Dagster): " + ", ".join(f"{k} {median(v):.1f} s" for k, v in pipe["steps"].items()) + "."]
    notes = run.get("notes") or []
    if notes:
        parts += ["", "Notes:", *(f"- {n}" for n in notes)]
    return "\n".join(parts)


def _worst(row: dict | None) -> str:
    return f"{row['label']} {median(row['x_scan']):.1f}×" if row else "—"


def history_row(run: dict) -> str:
    rows = {r["key"]: r for r in run["rows"]}

    def med(key, field):
        return median(rows[key][field]) if key in rows else None

    stages = [r for r in run["rows"] if r["kind"] == "stage" and not r["key"].startswith("ingest") and r["x_scan"]]
    worst = max(stages, key=lambda r: median(r["x_scan"]), default=None)
    verdicts = [line.rsplit("**", 2)[-2] for line in target_lines(run)]
    pipe_rss = max(rows["pipeline"]["rss"], default=0) if "pipeline" in rows else 0
    return (f"| {run['date']} | `{run['commit']}` | {run['scale']:,} | {run['threads']} | {run['memory_limit'] or '—'} | "
            f"{_fmt(med('pipeline', 'seconds'), 1)} | {_gb(pipe_rss)} | {_fmt(med('ingest_cold', 'x_copy'), 2)} | "
            f"{_fmt(med('ingest_warm', 'x_copy'), 2)} | "
            f"{_worst(worst)} | "
            f"{run['load_before'][0]:.1f} → {run['load_after'][0]:.1f} | "
            f"{sum(v == 'PASS' for v in verdicts)}/{len(verdicts)} |")


# ------------------------------------------------------------------------------------------ scaling curve

def history_points(history: list[str]) -> dict[int, tuple[float, float, str]]:
    """Per scale, the latest history line with a whole-pipeline time: (seconds, peak RSS GB, date)."""
    points = {}
    for line in history:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        try:
            scale, seconds, rss = int(cells[2].replace(",", "")), float(cells[5].replace(",", "")), float(cells[6])
        except (IndexError, ValueError):
            continue  # a run without a whole-pipeline time ("—")
        points[scale] = (seconds, rss, cells[0])
    return points


def exponent(n1: float, t1: float, n2: float, t2: float) -> float:
    """k in t ∝ n^k between two points: log(t2 / t1) / log(n2 / n1)."""
    import math

    return math.log(t2 / t1) / math.log(n2 / n1)


def fitted_exponent(points: dict[int, tuple[float, float, str]]) -> float | None:
    """Least-squares slope of log time against log lines over every scale (None below two scales)."""
    import math

    if len(points) < 2:
        return None
    xs = [math.log(n) for n in points]
    ys = [math.log(t) for t, _, _ in points.values()]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def scaling_curve(history: list[str]) -> str:
    """The scaling curve: per scale, the latest whole-pipeline time and peak RSS, the exponent from the
    scale before, and the fitted exponent over all (aim ≤ 1.1: a super-linear step shows here)."""
    points = history_points(history)
    if not points:
        return "No whole-pipeline run yet."
    lines = ["| lines (scale) | whole pipeline s | peak RSS GB | run | exponent from the scale before |",
             "|---:|---:|---:|---|---:|"]
    previous = None
    for n in sorted(points):
        t, rss, date = points[n]
        k = f"{exponent(previous[0], previous[1], n, t):.2f}" if previous else "—"
        lines.append(f"| {n:,} | {t:,.1f} | {rss:.2f} | {date} | {k} |")
        previous = (n, t)
    fit = fitted_exponent(points)
    if fit is not None:
        lines += ["", f"Fitted exponent of time against lines over {len(points)} scales: **{fit:.2f}** "
                      f"(aim ≤ {EXPONENT_AIM:g}: **{_verdict(fit <= EXPONENT_AIM)}**)."]
    return "\n".join(lines)


def latest_pipeline_seconds(text: str, scale: int) -> float | None:
    """The latest whole-pipeline time at `scale` in a RESULTS.md text (the 100 M target compares with 10 M)."""
    history = [ln for ln in (_block(text, "history") or "").splitlines() if ln.startswith("| ")]
    point = history_points(history).get(scale)
    return point[0] if point else None


# ------------------------------------------------------------------------------------------ RESULTS.md

HISTORY_HEADER = ("| date | commit | scale | threads | memory limit | pipeline s | pipeline peak RSS GB | "
                  "ingest cold × copy | ingest warm × copy | worst stage × scan | load before → after | "
                  "targets passed |\n|---|---|---:|---:|---|---:|---:|---:|---:|---|---|---|")
SECTION = re.compile(r"<!-- bench:scale=(\d+) -->\n(.*?)\n<!-- /bench:scale=\1 -->", re.S)
BLOCK = "<!-- bench:{name} -->\n(.*?)\n<!-- /bench:{name} -->"


def _block(text: str, name: str) -> str | None:
    m = re.search(BLOCK.format(name=name), text, re.S)
    return m.group(1) if m else None


def update_results(text: str, run: dict) -> str:
    """RESULTS.md with this run's section replacing the one of its scale, and its history line added.
    Other scales' sections, the history and the hand-written notes block are kept as they are."""
    sections = {int(s): body for s, body in SECTION.findall(text)}
    sections[run["scale"]] = section(run)
    history = [ln for ln in (_block(text, "history") or "").splitlines() if ln.startswith("| ") and
               not ln.startswith("| date ")]
    history.append(history_row(run))
    notes = _block(text, "notes") or "(Findings written by hand: hot spots, what the numbers mean.)"
    return "\n".join([
        "# Benchmark results",
        "",
        "Written by `benchmarks/suite.py` (`make bench SCALE=N [THREADS=2] [MEMORY_LIMIT=20GB]`): the latest run",
        "at a scale replaces that scale's section, and every run adds a line to the history at the end. Text",
        "between the `bench:notes` markers is kept as written; everything else is rewritten by the script.",
        "",
        "## Definitions",
        "",
        DEFINITIONS,
        "",
        "## Targets (issues 12 and 20)",
        "",
        TARGETS_TEXT,
        "",
        "## Findings",
        "",
        "<!-- bench:notes -->", notes, "<!-- /bench:notes -->",
        "",
        "## Latest results per scale",
        "",
        *[f"<!-- bench:scale={s} -->\n{sections[s]}\n<!-- /bench:scale={s} -->\n" for s in sorted(sections)],
        "## Scaling curve",
        "",
        "<!-- bench:scaling -->", scaling_curve(history), "<!-- /bench:scaling -->",
        "",
        "## History",
        "",
        "<!-- bench:history -->", HISTORY_HEADER, *history, "<!-- /bench:history -->",
        "",
    ])


def write_results(path: Path, run: dict) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    path.write_text(update_results(text, run), encoding="utf-8")
