from __future__ import annotations

import functools
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
