"""Whole pipeline runs shared by the tests of a pytest session (cached per process; under `make test`'s
two xdist workers, tests/conftest.py sends every test that uses one of them to the same worker):

- `demo_run()`: `make demo`'s input (generate --scale small --seed 42, about 250k Part B lines, 88
  practices) run once: the report, browser, explain, scoring and demo-world tests read it (about 2 min);
- `small_run()`: a 60k-line input (seed 3: both cohorts have scored participants and OLS fits) run once,
  for tests that run the same input again another way (8 shards, two machines through an object store)
  and compare every table with it."""
from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from pipelines.synthetic import generate
from assets.runner import run_pipeline
from pipelines.engine.settings import RunSettings


def _run(prefix: str, scale, seed: int) -> tuple[RunSettings, object]:
    base = Path(tempfile.mkdtemp(prefix=prefix))
    generate(base / "in", scale=scale, seed=seed)
    settings = RunSettings(input_dir=base / "in", out_dir=base / "out", threads=2, quiet=True)
    outcome = run_pipeline(settings)
    assert outcome.success, outcome.reason
    return settings, outcome


@functools.lru_cache(maxsize=1)
def demo_run():
    return _run("asm_demo_", "small", 42)


@functools.lru_cache(maxsize=1)
def small_run():
    return _run("asm_small_", 60_000, 3)
