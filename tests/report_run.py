"""One pipeline run on generated demo data, shared by the report, browser and explain tests of a pytest
session (cached: the run takes about a minute)."""
from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from pipelines.generate import generate
from pipelines.runner import run_pipeline
from pipelines.settings import RunSettings


@functools.lru_cache(maxsize=1)
def demo_run():
    base = Path(tempfile.mkdtemp(prefix="asm_reports_"))
    generate(base / "in", scale="small", seed=5)
    settings = RunSettings(input_dir=base / "in", out_dir=base / "out", threads=2, quiet=True)
    outcome = run_pipeline(settings)
    assert outcome.success, outcome.reason
    return settings, outcome
