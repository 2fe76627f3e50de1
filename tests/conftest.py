from __future__ import annotations

import functools
import inspect
import re
from pathlib import Path

import duckdb
import pytest

from pipelines.engine.methodology import load_methodology
from pipelines.engine.settings import RunSettings


TESTS = Path(__file__).resolve().parent
# Groups of whole pipeline runs, longest first (measured with --durations on this 2-core machine)
LONGEST_GROUPS = ("demo_run", "small_run", "tests/test_bad_input.py", "tests/test_run_record.py",
                  "tests/test_output_folder.py", "tests/test_deploy.py", "tests/test_cli.py")


@functools.lru_cache(maxsize=None)
def work_unit(path: str) -> str:
    """The xdist work unit of a test file (`tests/test_x.py`): a module's tests stay on one worker (module
    fixtures run once), and every module that uses a shared run of tests/report_run.py joins that run's
    group, so each shared run is made once per session."""
    text = (TESTS / Path(path).name).read_text(encoding="utf-8")
    return "demo_run" if "demo_run()" in text else "small_run" if "small_run()" in text else path


@pytest.hookimpl(optionalhook=True)  # a plain `pytest` run without xdist loads this conftest too
def pytest_xdist_make_scheduler(config, log):
    """`make test` (`-n 3 --dist loadgroup`): whole groups of `work_unit` go to one worker. (xdist's own
    loadgroup needs an `xdist_group` suffix on node ids, which pytest 9 no longer lets it write.)"""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedRunScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid.split("::", 1)[0])

    return SharedRunScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    """The longest groups first, so the workers finish together (module order kept otherwise)."""
    first = {g: i for i, g in enumerate(LONGEST_GROUPS)}
    items.sort(key=lambda item: first.get(work_unit(item.nodeid.split("::", 1)[0]), len(first)))


@pytest.fixture
def run_ingest_on(tmp_path):
    """Run the ingest stage on a folder; return (result, query function over the warehouse)."""
    from pipelines.engine.ingest import run_ingest

    def _run(input_dir: Path):
        out = tmp_path / "out"
        settings = RunSettings(input_dir=input_dir, out_dir=out, quiet=True)
        result = run_ingest(settings, load_methodology(2027))
        con = duckdb.connect()

        def q(sql: str):
            for table in ("partb_lines", "ingest_audit", "quarantine", "ingest_files", "bene_xref",
                          "parta_claims", "parta_diagnoses", "beneficiaries"):
                sql = sql.replace(f"{{{table}}}", f"read_parquet('{settings.table_path(table)}')")
            return con.execute(sql).fetchall()

        return result, q

    return _run


@pytest.fixture
def input_dir(tmp_path) -> Path:
    d = tmp_path / "input"
    d.mkdir()
    return d


# --------------------------------------------------------------------------------------------
# Two tiers: `make test` runs everything; `make test-fast` (`-m "not pipeline"`) leaves out every test that
# runs the whole pipeline (a Dagster job, `asm run` in a subprocess, a shared demo/60k run), found here by
# reading the test, the fixtures it uses and the module's helpers they call.

WHOLE_RUN = re.compile(r'demo_run\(\)|small_run\(\)|run_pipeline\(|execute_in_process\(|\.materialize\(|'
                       r'"run", "--input"|\(ASM, "run"|\["run", |execute_run\(')


@functools.lru_cache(maxsize=None)
def _source(func) -> str:
    try:
        return inspect.getsource(func)
    except (OSError, TypeError):
        return ""


def _runs_pipeline(func, module, depth: int = 2) -> bool:
    text = _source(func)
    if WHOLE_RUN.search(text):
        return True
    if depth == 0:
        return False
    called = {n for n in re.findall(r"\b([A-Za-z_]\w*)\(", text) if inspect.isfunction(getattr(module, n, None))}
    return any(_runs_pipeline(getattr(module, n), module, depth - 1) for n in called if getattr(module, n) is not func)


def pytest_itemcollected(item):
    module = getattr(item, "module", None)
    funcs = [getattr(item, "function", None)]
    funcs += [defs[-1].func for defs in getattr(item, "_fixtureinfo").name2fixturedefs.values()]
    if module is not None and any(f is not None and _runs_pipeline(f, module) for f in funcs):
        item.add_marker(pytest.mark.pipeline)
