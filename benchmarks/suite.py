"""The benchmark suite (issue 12): every stage and the whole pipeline on generated data, against a bare
DuckDB scan and a bare copy of the same input measured in the same run; one table; RESULTS.md updated.

    make bench SCALE=10000000 [THREADS=2] [MEMORY_LIMIT=20GB] [REPEATS=1]
    .venv/bin/python benchmarks/suite.py --scale 10000000 [--threads 2] [--memory-limit 20GB] [--repeats 1]

1. Input: `asm generate --scale N --seed S --format parquet` into WORK/<N>-seed<S>/in, once (kept: the
   folder appears only when generation finished; `--regenerate` writes it again, e.g. after a
   generator change). WORK/<N>-seed<S>/in-held-back links every file but the newest ZC5 delivery.
2. Per repeat, in order, each in its own child process (benchmarks/child.py) followed at once by a
   bare scan (and, for ingest and the whole pipeline, a bare copy): ingest cold, ingest warm (a
   nightly run adding the newest delivery to the cache of a run without it), episodes, eligibility,
   episode_risk, scoring, projection, steering, reports, checks, then `asm run` (the whole pipeline, fresh output folder).
3. Prints the table (markdown) and the targets with PASS/FAIL, saves the run record as JSON in
   WORK/<N>-seed<S>/runs/, and replaces that scale's section of benchmarks/RESULTS.md (`--no-results`
   to leave it alone; a run of part of the suite, `--only`, says so in its section).

The machine is shared and noisy: read the load column and the load averages before/after, and quote
ratios (paired, median over repeats) rather than absolute times. Unit tests never run this.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

import report  # noqa: E402  (benchmarks/report.py: definitions, targets, table, RESULTS.md)

STAGES = [  # key, label, child run, paired with a copy too
    ("ingest_cold", "ingest, cold (empty cache)", "ingest", True),
    ("ingest_warm", "ingest, warm (+1 monthly delivery)", "ingest", True),
    ("episodes", "episodes", "episodes", False),
    ("eligibility", "eligibility", "eligibility", False),
    ("episode_risk", "episode_risk", "episode_risk", False),
    ("scoring", "scoring", "scoring", False),
    ("projection", "projection (V1-V5, bootstrap)", "projection", False),
    ("steering", "steering (improvement levers)", "steering", False),
    ("reports", "reports", "reports", False),
    ("checks", "checks (every suite)", "checks", False),
    ("pipeline", "whole pipeline (`asm run`)", None, True),
]
DELIVERY = re.compile(r"\.D(\d{6})\.")


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Definitions:\n" + report.DEFINITIONS + "\n\nTargets:\n" + report.TARGETS_TEXT)
    ap.add_argument("--scale", type=lambda v: int(v.replace("_", "")), default=1_000_000,
                    help="Part B lines to generate (asm generate --scale); default 1000000")
    ap.add_argument("--seed", type=int, default=42, help="generator seed (default 42)")
    ap.add_argument("--threads", type=int, default=2, help="DuckDB threads for every stage and baseline (default 2)")
    ap.add_argument("--memory-limit", default="", help="DuckDB memory limit, e.g. 20GB (stages, baselines, asm run)")
    ap.add_argument("--repeats", type=int, default=None, help="paired runs per measurement (default 1 at >= 10M "
                    "lines, 3 below)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/asm-bench"), help="work folder (default /tmp/asm-bench)")
    ap.add_argument("--only", default="", help="comma-separated stage keys to run (" + ", ".join(k for k, *_ in STAGES)
                    + "); stages read the outputs earlier stages left in WORK/<N>-seed<S>/out")
    ap.add_argument("--report-tins", type=int, default=0,
                    help="scorecards for only the N TINs billing the most Part B lines (reports stage and `asm run "
                         "--tin`); default 0 = every TIN. At 10M (2,759 TINs) every scorecard takes about an hour")
    ap.add_argument("--regenerate", action="store_true", help="generate the input again even if cached")
    ap.add_argument("--results", type=Path, default=BENCH / "RESULTS.md", help="the results file to update")
    ap.add_argument("--no-results", action="store_true", help="print only; leave RESULTS.md alone")
    args = ap.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.scale >= 10_000_000 else 3
    keys = [k for k, *_ in STAGES]
    args.only = [k.strip() for k in args.only.split(",") if k.strip()]
    unknown = sorted(set(args.only) - set(keys))
    if unknown:
        ap.error(f"unknown stage keys: {', '.join(unknown)} (known: {', '.join(keys)})")
    return args


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------ input

def ensure_input(args, base: Path) -> Path:
    """The generated input folder for this scale and seed (generated now when missing)."""
    inp, partial = base / "in", base / "in.partial"
    if inp.is_dir() and not args.regenerate:
        return inp
    shutil.rmtree(partial, ignore_errors=True)
    say(f"generating {args.scale:,} lines (seed {args.seed}, parquet) into {inp} ...")
    t0 = time.perf_counter()
    subprocess.run([*asm_command(), "generate", "--out", str(partial), "--scale", str(args.scale), "--seed",
                    str(args.seed), "--format", "parquet", "--quiet"], cwd=REPO, check=True)
    shutil.rmtree(inp, ignore_errors=True)
    partial.rename(inp)
    say(f"generated in {time.perf_counter() - t0:.0f} s")
    return inp


def held_back_input(inp: Path, dst: Path) -> Path:
    """Links to every input file but the newest ZC5 delivery (the nightly run's "yesterday")."""
    zc5 = sorted((p for p in inp.iterdir() if "ZC5" in p.name), key=lambda p: DELIVERY.search(p.name).group(1))
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)
    for p in inp.iterdir():
        if p.is_file() and p != zc5[-1]:
            (dst / p.name).symlink_to(p)
    return dst


def count_lines(inp: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in inp.glob("*ZC5*.parquet"))


def asm_command() -> list[str]:
    return [sys.executable, "-m", "pipelines.cli"]


# ------------------------------------------------------------------------------------------ children

def run_child(cmd: list[str], log: Path) -> dict:
    """Run one child process: wall seconds, its own peak RSS (wait4), the JSON it printed last, or the
    one-line error."""
    log.parent.mkdir(parents=True, exist_ok=True)
    out_path = log.with_suffix(".out")
    t0 = time.perf_counter()
    with open(out_path, "w") as out, open(log, "w") as err:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    result = {"process_seconds": wall, "rss": usage.ru_maxrss * 1024, "error": ""}
    if code != 0:
        tail = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
        why = f"killed by signal {-code}" if code < 0 else f"exit {code}"
        result["error"] = f"{why}: {tail[-1][:200] if tail else 'no message'} (log {log})"
        return result
    lines = [ln for ln in out_path.read_text().splitlines() if ln.startswith("{")]
    if lines:
        result.update(json.loads(lines[-1]))
    return result


def child_command(args, what: str, inp: Path, out: Path) -> list[str]:
    cmd = [sys.executable, str(BENCH / "child.py"), what, "--input", str(inp), "--out", str(out),
           "--threads", str(args.threads)]
    cmd += ["--tin", ",".join(args.tins)] if args.tins and what == "reports" else []
    return cmd + (["--memory-limit", args.memory_limit] if args.memory_limit else [])


def pipeline_command(args, inp: Path, out: Path) -> list[str]:
    cmd = [*asm_command(), "run", "--input", str(inp), "--out", str(out), "--threads", str(args.threads), "--quiet"]
    cmd += ["--tin", ",".join(args.tins)] if args.tins else []
    return cmd + (["--memory-limit", args.memory_limit] if args.memory_limit else [])


def largest_tins(inp: Path, n: int) -> list[str]:
    """The n TINs billing the most Part B lines of the input (ties by TIN), for `--report-tins`."""
    import duckdb

    files = sorted(str(p) for p in inp.glob("*ZC5*.parquet"))
    rows = duckdb.connect().execute(
        "SELECT trim(CAST(CLM_RNDRG_PRVDR_TAX_NUM AS VARCHAR)) AS tin, count(*) AS n FROM read_parquet(?) "
        "WHERE tin <> '' GROUP BY ALL ORDER BY n DESC, tin LIMIT ?", [files, n]).fetchall()
    return [r[0] for r in rows]


def pipeline_steps(out: Path) -> dict[str, float]:
    """Seconds per stage of an `asm run` from its run_summary.json; the rest is checks and Dagster."""
    summary = json.loads((out / "run_summary.json").read_text())
    tables = summary.get("tables", {})

    def secs(*names):
        return max((float(tables[n].get("seconds", 0)) for n in names if n in tables), default=0.0)

    from pipelines.engine.projection import PROJECTION_TABLES
    from pipelines.engine.scoring.stage import SCORING_TABLES
    from pipelines.engine.steering.stage import STEERING_TABLES

    episodes = sum(float(x) for x in tables.get("episodes", {}).get("seconds_by_shard", [])) or secs("episodes")
    steps = {"ingest": secs("partb_lines"), "episodes": episodes, "eligibility": secs("eligibility"),
             "episode_risk": secs("episode_risk"), "scoring": secs(*SCORING_TABLES),
             "projection": secs(*PROJECTION_TABLES), "steering": secs(*STEERING_TABLES),
             "reports": secs("reports")}
    steps["checks, staging, publish, Dagster"] = max(0.0, float(summary["seconds"]) - sum(steps.values()))
    return steps


# ------------------------------------------------------------------------------------------ the run

def new_row(key: str, label: str, kind: str) -> dict:
    return {"key": key, "label": label, "kind": kind, "seconds": [], "rss": [], "x_scan": [], "x_copy": [],
            "load": [], "steps": {}, "errors": [], "notes": {}}


class Bench:
    """The folders of one scale and seed, and the rows being measured."""

    def __init__(self, args, base: Path, inp: Path):
        self.args, self.inp = args, inp
        self.held = held_back_input(inp, base / "in-held-back")
        self.out, self.warm, self.run_out = base / "out", base / "out-warm", base / "out-run"
        self.baseline_out, self.logs = base / "baseline", base / "logs"
        keys = args.only or [k for k, *_ in STAGES]
        self.rows = {"scan": new_row("scan", "bare scan (DuckDB)", "baseline"),
                     "copy": new_row("copy", "bare copy (DuckDB)", "baseline")}
        self.rows.update({k: new_row(k, label, "pipeline" if k == "pipeline" else "stage")
                          for k, label, *_ in STAGES if k in keys})
        self.notes: list[str] = []

    def baseline(self, what: str, tag: str) -> float | None:
        load = os.getloadavg()[0]
        r = run_child(child_command(self.args, what, self.inp, self.baseline_out), self.logs / f"{tag}-{what}.err")
        row = self.rows[what]
        if r["error"]:
            row["errors"].append(r["error"])
            return None
        add_measurement(row, r["seconds"], r["rss"], load, {})
        return r["seconds"]

    def prepare(self, key: str, tag: str) -> None:
        if key == "ingest_cold":
            shutil.rmtree(self.out, ignore_errors=True)
        elif key == "ingest_warm":
            self.prepare_warm(tag)
        elif key == "pipeline":
            shutil.rmtree(self.run_out, ignore_errors=True)

    def prepare_warm(self, tag: str) -> None:
        """Yesterday's state: the cold run's staging cache (hard links), then a run on every file but the
        newest ZC5 delivery, which drops that delivery from the cache."""
        shutil.rmtree(self.warm, ignore_errors=True)
        self.warm.mkdir(parents=True)
        if (self.out / ".ingest").is_dir():
            shutil.copytree(self.out / ".ingest", self.warm / ".ingest", copy_function=os.link)
        r = run_child(child_command(self.args, "ingest", self.held, self.warm), self.logs / f"{tag}-warm-prep.err")
        if r["error"]:
            self.rows["ingest_warm"]["errors"].append(f"preparing the held-back run: {r['error']}")
        else:
            self.rows["ingest_warm"]["notes"].setdefault("prep_seconds", []).append(r["seconds"])

    def measure(self, key: str, what: str | None, pair_copy: bool, rep: int) -> None:
        tag = f"r{rep + 1}-{key}"
        self.prepare(key, tag)
        row = self.rows[key]
        if row["errors"]:
            return
        load = os.getloadavg()[0]
        if what is None:
            r = run_child(pipeline_command(self.args, self.inp, self.run_out), self.logs / f"{tag}.err")
            seconds = r["process_seconds"]
        else:
            out = self.warm if key == "ingest_warm" else self.out
            r = run_child(child_command(self.args, what, self.inp, out), self.logs / f"{tag}.err")
            seconds = r.get("seconds")
        if r["error"]:
            row["errors"].append(r["error"])
            say(f"{row['label']}: FAILED {r['error']}")
            return
        steps = pipeline_steps(self.run_out) if what is None else r.get("steps", {})
        add_measurement(row, seconds, r["rss"], load, steps)
        row["notes"].update(r.get("notes", {}))
        self.pair(row, seconds, pair_copy, tag)

    def pair(self, row: dict, seconds: float, pair_copy: bool, tag: str) -> None:
        scan = self.baseline("scan", tag)
        copy = self.baseline("copy", tag) if pair_copy else None
        if scan:
            row["x_scan"].append(seconds / scan)
        if copy:
            row["x_copy"].append(seconds / copy)
        say(f"{row['label']}: {seconds:.1f} s, peak RSS {row['rss'][-1] / report.GB:.2f} GB; bare scan "
            f"{_s(scan)} s" + (f", bare copy {_s(copy)} s" if pair_copy else "") + f"; load {os.getloadavg()[0]:.1f}")

    def run(self) -> None:
        for rep in range(self.args.repeats):
            say(f"repeat {rep + 1} of {self.args.repeats}")
            for key, _, what, pair_copy in STAGES:
                if key in self.rows:
                    self.measure(key, what, pair_copy, rep)
            if "copy" in self.rows and not self.rows["copy"]["seconds"]:
                self.baseline("copy", f"r{rep + 1}-unpaired")  # every × copy needs a copy in the run


def _s(x: float | None) -> str:
    return "failed" if x is None else f"{x:.1f}"


def add_measurement(row: dict, seconds: float, rss: int, load: float, steps: dict) -> None:
    row["seconds"].append(seconds)
    row["rss"].append(rss)
    row["load"].append(load)
    for name, s in steps.items():
        row["steps"].setdefault(name, []).append(float(s))


# ------------------------------------------------------------------------------------------ the record

def machine() -> dict:
    import duckdb
    import polars

    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")),
               platform.processor() or "unknown CPU")
    ram = next(int(ln.split()[1]) * 1024 for ln in open("/proc/meminfo") if ln.startswith("MemTotal"))
    return {"cores": os.cpu_count(), "cpu": cpu, "ram_gib": ram / 2 ** 30,
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "duckdb": duckdb.__version__, "polars": polars.__version__}


def git_commit() -> str:
    def git(*a):
        return subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    engine = ("pipelines", "sql", "assets", "data", "expectations", "pyproject.toml", "constraints.txt")
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", *engine)
    return commit + ("+local engine changes" if dirty else "")


def run_notes(bench: Bench) -> list[str]:
    notes = list(bench.notes)
    if bench.args.tins:
        notes.append(f"reports and `asm run` wrote scorecards for only the {len(bench.args.tins)} TINs billing the most "
                     f"Part B lines (--report-tins {bench.args.report_tins}: `--tin {','.join(bench.args.tins)}`); "
                     "every other stage covers the whole input.")
    if bench.args.only:
        notes.append(f"part of the suite only (--only {','.join(bench.args.only)}); stages not listed were not run.")
    warm = bench.rows.get("ingest_warm")
    if warm and warm["seconds"]:
        n = warm["notes"]
        prep = report.median(n.get("prep_seconds", []))
        notes.append(f"ingest warm staged {n.get('restaged_files', '?')} of {n.get('staged_files', '?')} claims files "
                     f"again (the added delivery); the held-back run that left its cache took "
                     f"{report._fmt(prep, 1)} s (not counted).")
    checks = bench.rows.get("checks")
    if checks and checks["notes"].get("failed_blocking"):
        notes.append(f"checks: blocking failures on {', '.join(checks['notes']['failed_blocking'])}.")
    return notes


def main(argv=None) -> int:
    args = parse_args(argv)
    base = args.work / f"{args.scale}-seed{args.seed}"
    inp = ensure_input(args, base)
    args.tins = largest_tins(inp, args.report_tins) if args.report_tins > 0 else []
    lines = count_lines(inp)
    say(f"{lines:,} Part B lines in {inp}; threads {args.threads}, memory limit {args.memory_limit or 'none'}, "
        f"repeats {args.repeats}; load average {os.getloadavg()[0]:.2f}")
    load_before = os.getloadavg()
    bench = Bench(args, base, inp)
    bench.run()
    run = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "commit": git_commit(),
           "scale": args.scale, "seed": args.seed, "lines": lines, "threads": args.threads,
           "memory_limit": args.memory_limit, "repeats": args.repeats, "machine": machine(),
           "load_before": list(load_before), "load_after": list(os.getloadavg()),
           "rows": list(bench.rows.values()), "notes": run_notes(bench)}
    if args.scale == 100_000_000 and args.results.exists():  # the 100 M target is a multiple of the 10 M time
        run["pipeline_seconds_10m"] = report.latest_pipeline_seconds(args.results.read_text(encoding="utf-8"),
                                                                     10_000_000)
    print(report.section(run))
    saved = base / "runs" / f"{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(run, indent=1))
    say(f"run record: {saved}")
    if not args.no_results:
        report.write_results(args.results, run)
        say(f"updated {args.results}")
        print("\nScaling curve (RESULTS.md, latest whole-pipeline run per scale):\n" +
              report._block(args.results.read_text(encoding="utf-8"), "scaling"))
    for folder in (bench.warm, bench.run_out, bench.baseline_out):
        shutil.rmtree(folder, ignore_errors=True)
    return 1 if any(r["errors"] for r in bench.rows.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
