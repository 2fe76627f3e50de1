"""Calibration of the in-year projection (issue 18): replay a synthetic world month by month against its own
year-end result and print, per month, how well the projection of that month foretold the year end.

    python benchmarks/calibration.py [--seeds 42,7] [--scale small] [--work /tmp/asm-calibration]
                                     [--threads 2] [--results benchmarks/RESULTS.md]

Per seed: `asm generate` (cached under --work), one `asm run` on every delivery (the year-end truth), then
`asm backfill --monthly` over the PY's delivery months into that run's history. Per replayed month (the
data's last service date, "as of"):

  found      share of the clinicians scored at year end that the month showed as scored, or on track (V5)
  MAE score  mean |projected final score of the month - year-end final score| over those clinicians with a
             projected score that month (points)
  MAE TIN $  mean over TIN x cohort of |sum of the month's projected dollars - sum of year-end dollars|
  cover score share of year-end final scores inside the month's 80% interval (V3; target 70-90%)
  cover factor share of year-end payment factors inside the month's 80% factor interval
  cover $    share of year-end clinician dollars inside the month's 80% dollar interval
Months whose data end before the PY starts are left out (nothing of the PY is closed or open yet).
The year-end figure is the pool-based one (the run's pool is the whole synthetic nation). No beneficiary id is
read: only participant-level tables.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.engine.projection.history import read_history  # noqa: E402
from pipelines.engine.tables import PARTICIPANT  # noqa: E402

ASM = [sys.executable, "-m", "pipelines.cli"]
MARK_BEGIN, MARK_END = "<!-- calibration:begin -->", "<!-- calibration:end -->"


def _run(cmd: list[str], env: dict) -> float:
    t = time.monotonic()
    subprocess.run(cmd, check=True, env=env, cwd=REPO, stdout=subprocess.DEVNULL)
    return time.monotonic() - t


def replay(seed: int, scale: str, work: Path, threads: int, py: int) -> tuple[Path, dict]:
    """Generate (cached), run the year end, backfill the PY's months; returns the OUT folder and timings."""
    base = work / f"{scale}-seed{seed}"
    inp, out = base / "input", base / "out"
    env = {**os.environ, "DAGSTER_HOME": str(base / ".dagster"), "PYTHONPATH": str(REPO)}
    (base / ".dagster").mkdir(parents=True, exist_ok=True)
    if not (inp.is_dir() and any(inp.iterdir())):
        _run([*ASM, "generate", "--out", str(inp), "--scale", scale, "--seed", str(seed)], env)
    seconds = {}
    seconds["run"] = _run([*ASM, "run", "--input", str(inp), "--out", str(out), "--threads", str(threads),
                           "--quiet"], env)
    seconds["backfill"] = _run([*ASM, "backfill", "--monthly", "--input", str(inp), "--out", str(out),
                                "--from", f"{py}-01", "--to", f"{py}-12", "--threads", str(threads), "--quiet"], env)
    (base / "seconds.json").write_text(json.dumps(seconds))
    return out, seconds


def _inside(value: str, low: str, high: str) -> pl.Expr:
    return (pl.col(low) <= pl.col(value)) & (pl.col(value) <= pl.col(high))


def calibration_table(history: pl.DataFrame, year_end: pl.DataFrame) -> pl.DataFrame:
    """Per month of `history` (read_history rows), the calibration figures against `year_end`
    (projected_scores of the year-end run)."""
    truth = year_end.filter(pl.col("status") == "scored").select(
        *PARTICIPANT, pl.col("pool_final_score").alias("truth_score"), pl.col("pool_factor").alias("truth_factor"),
        pl.col("pool_dollar_impact").alias("truth_dollars"))
    tin_keys = ["performance_year", "tin", "cohort"]
    tin_truth = truth.group_by(tin_keys).agg(pl.col("truth_dollars").sum().alias("truth_tin"))
    rows = []
    for (as_of,), month in history.group_by("as_of", maintain_order=True):
        month = month.with_columns(pl.col("performance_year").cast(pl.Int64))
        j = truth.join(month, on=PARTICIPANT, how="left")
        found = (pl.col("status") == "scored") | (pl.col("case_status") == "on track")
        with_score = j.filter(pl.col("projected_final_score").is_not_null())
        with_interval = with_score.filter(pl.col("projected_final_score_low").is_not_null())
        with_dollars = j.filter(pl.col("projected_dollar_impact_low").is_not_null() & pl.col("truth_dollars").is_not_null())
        tins = (month.group_by(tin_keys).agg(pl.col("projected_dollar_impact").sum().alias("month_tin"))
                .join(tin_truth, on=tin_keys, how="inner"))
        rows.append({
            "as_of": as_of,
            "year_end_scored": truth.height,
            "found": j.select(found.fill_null(False).mean()).item(),
            "projected": with_score.height,
            "mae_score": with_score.select((pl.col("projected_final_score") - pl.col("truth_score")).abs().mean()).item(),
            "mae_tin_dollars": tins.select((pl.col("month_tin") - pl.col("truth_tin")).abs().mean()).item(),
            "tins": tins.height,
            "cover_score": with_interval.select(_inside("truth_score", "projected_final_score_low",
                                                        "projected_final_score_high").mean()).item(),
            "cover_factor": with_interval.filter(pl.col("truth_factor").is_not_null()).select(
                _inside("truth_factor", "projected_factor_low", "projected_factor_high").mean()).item(),
            "cover_dollars": with_dollars.select(_inside("truth_dollars", "projected_dollar_impact_low",
                                                         "projected_dollar_impact_high").mean()).item(),
        })
    return pl.DataFrame(rows).sort("as_of")


def markdown(seed: int, table: pl.DataFrame, seconds: dict) -> str:
    def pct(v):
        return "-" if v is None else f"{100 * v:.0f}%"

    def num(v, d=1):
        return "-" if v is None else f"{v:,.{d}f}"
    out = [f"**Seed {seed}** ({table['year_end_scored'][0] if table.height else 0} clinicians scored at year end; "
           f"`asm run` {seconds.get('run', 0):.0f} s, `asm backfill --monthly` of the PY {seconds.get('backfill', 0):.0f} s)",
           "", "| as of | found (scored or on track) | projected | MAE final score (pts) | MAE TIN $ | TINs | "
           "80% cover, score | 80% cover, factor | 80% cover, $ |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in table.iter_rows(named=True):
        out.append(f"| {r['as_of']} | {pct(r['found'])} | {r['projected']} | {num(r['mae_score'])} | "
                   f"{num(r['mae_tin_dollars'], 0)} | {r['tins']} | {pct(r['cover_score'])} | {pct(r['cover_factor'])} | "
                   f"{pct(r['cover_dollars'])} |")
    return "\n".join(out)


def update_results(path: Path, text: str) -> None:
    body = path.read_text() if path.exists() else "# Benchmark results\n"
    block = f"{MARK_BEGIN}\n{text}\n{MARK_END}"
    if MARK_BEGIN in body:
        a, b = body.index(MARK_BEGIN), body.index(MARK_END) + len(MARK_END)
        body = body[:a] + block + body[b:]
    else:
        body = body.rstrip("\n") + "\n\n## Calibration of the in-year projection (issue 18)\n\n" + block + "\n"
    path.write_text(body)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="42,7")
    ap.add_argument("--scale", default="small")
    ap.add_argument("--work", type=Path, default=Path("/tmp/asm-calibration"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--performance-year", type=int, default=2027)
    ap.add_argument("--results", type=Path, default=None, help="RESULTS.md to update (default: print only)")
    ap.add_argument("--reuse", action="store_true", help="reuse the OUT folders of an earlier replay")
    args = ap.parse_args(argv)
    verb = "Computed from the kept replays" if args.reuse else "Replayed"
    parts = [f"{verb} {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, scale `{args.scale}`, "
             f"{args.threads} threads, 1-minute load {os.getloadavg()[0]:.1f}; "
             "`python benchmarks/calibration.py --seeds " + args.seeds + "`."]
    for seed in (int(s) for s in args.seeds.split(",")):
        out = args.work / f"{args.scale}-seed{seed}" / "out"
        timings = out.parent / "seconds.json"
        seconds = json.loads(timings.read_text()) if timings.is_file() else {}
        if not (args.reuse and out.is_dir()):
            out, seconds = replay(seed, args.scale, args.work, args.threads, args.performance_year)
        year_end = pl.read_parquet(out / "warehouse" / "projected_scores.parquet")
        history = read_history(out).filter(pl.col("as_of") >= dt.date(args.performance_year, 1, 1))
        table = calibration_table(history, year_end)
        text = markdown(seed, table, seconds)
        print(text + "\n", flush=True)
        parts.append(text)
    if args.results:
        update_results(args.results, "\n\n".join(parts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
