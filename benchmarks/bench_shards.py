"""Sharded episode stage: N shards run in parallel processes against the unsharded stage (issue 12 item 3).

    # once: ingest the same input unsharded and in N shards (kept under BASE/shards-<n>/)
    .venv/bin/python benchmarks/bench_shards.py prepare --input IN --base BASE --shards 2
    # one measurement (prints one line: wall, cpu, peak RSS); pair two of them to get a ratio
    .venv/bin/python benchmarks/bench_shards.py episodes --base BASE --shards 2 --workers 2 --threads 1
    .venv/bin/python benchmarks/bench_shards.py episodes --base BASE --shards 1 --workers 1 --threads 2

`episodes` runs the episode stage's engine exactly as the Dagster steps do (pipelines.engine.episodes:
run_episode_shard per shard, then run_episode_costs once), with `--workers` shard steps at a time, each
in its own process (what the multiprocess executor does, without Dagster's per-step start-up, which is
measured separately by timing `asm run --workers`). Tables go to a fresh folder each time. The script
measures; it never judges. Unit tests never run it.
"""
from __future__ import annotations

import argparse
import resource
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.engine.episodes import run_episode_costs, run_episode_shard  # noqa: E402
from pipelines.engine.ingest import run_ingest  # noqa: E402
from pipelines.engine.methodology import load_methodology  # noqa: E402
from pipelines.engine.settings import RunSettings  # noqa: E402
from pipelines.engine.shards import Shard  # noqa: E402

INGEST_TABLES = ("partb_lines", "parta_claims", "beneficiaries")


def _settings(base: Path, shards: int, threads: int, out: str = "") -> RunSettings:
    folder = base / f"shards-{shards}"
    return RunSettings(input_dir=folder / "in", out_dir=folder / (out or "ingest"), threads=threads, quiet=True,
                       shards=shards)


def prepare(args) -> None:
    for n in sorted({1, args.shards}):
        s = _settings(args.base, n, args.threads)
        s.input_dir.parent.mkdir(parents=True, exist_ok=True)
        if not s.input_dir.exists():
            s.input_dir.symlink_to(args.input.resolve())
        t = time.perf_counter()
        run_ingest(s, load_methodology(2027))
        print(f"ingest in {n} shard(s): {time.perf_counter() - t:.1f}s -> {s.warehouse_dir}")


def _one_shard(base: Path, shards: int, threads: int, out: str, k: int) -> float:
    ingest = _settings(base, shards, threads)
    s = _settings(base, shards, threads, out)
    s.out_dir.joinpath("warehouse").mkdir(parents=True, exist_ok=True)
    for table in INGEST_TABLES:  # the shard step reads the ingest tables where a run's warehouse has them
        link = s.warehouse_dir / f"{table}.parquet"
        if not link.exists():
            try:
                link.symlink_to(ingest.warehouse_dir / f"{table}.parquet")
            except FileExistsError:
                pass
    return run_episode_shard(s, load_methodology(2027), Shard(k, shards)).seconds


def episodes(args) -> None:
    out = f"episodes-{time.time_ns()}"
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        seconds = list(pool.map(_one_shard, *zip(*[(args.base, args.shards, args.threads, out, k)
                                                     for k in range(args.shards)])))
    s = _settings(args.base, args.shards, args.threads * args.workers, out)
    cohort = run_episode_costs(s, load_methodology(2027)).seconds
    wall = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    me = resource.getrusage(resource.RUSAGE_SELF)
    cpu = children.ru_utime + children.ru_stime + me.ru_utime + me.ru_stime
    peak = max(children.ru_maxrss, me.ru_maxrss) / 1024
    print(f"episodes shards={args.shards} workers={args.workers} threads={args.threads}: wall {wall:.1f}s, "
          f"cpu {cpu:.1f}s, peak RSS {peak:.0f} MB, shard steps {[round(x, 1) for x in seconds]}s, C4 {cohort:.1f}s")
    if not args.keep:
        shutil.rmtree(s.out_dir, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="ingest the input unsharded and in --shards shards")
    p.add_argument("--input", type=Path, required=True)
    e = sub.add_parser("episodes", help="time the episode stage (shard steps, then C4)")
    e.add_argument("--workers", type=int, default=1, help="shard steps at once, each in its own process")
    e.add_argument("--keep", action="store_true", help="keep the tables written")
    for q in (p, e):
        q.add_argument("--base", type=Path, required=True)
        q.add_argument("--shards", type=int, default=2)
        q.add_argument("--threads", type=int, default=2, help="DuckDB threads per process")
    args = ap.parse_args(argv)
    prepare(args) if args.command == "prepare" else episodes(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
