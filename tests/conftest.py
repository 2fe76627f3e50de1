from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.methodology import load_methodology
from pipelines.settings import RunSettings


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """`make test` runs the tests on two xdist workers (`--dist loadgroup`): a module's tests stay on one
    worker (module fixtures run once), and every module that uses a shared run of tests/report_run.py
    joins that run's group, so each shared run is made once per session."""
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        names = vars(item.module)
        group = ("demo_run" if "demo_run" in names else "small_run" if "small_run" in names
                 else item.module.__name__)
        item.add_marker(pytest.mark.xdist_group(group))
    # the longest groups first, so the two workers finish together (stable: module order kept otherwise)
    first = {g: i for i, g in enumerate(LONGEST_GROUPS)}
    items.sort(key=lambda item: first.get(_group(item), len(first)))


# Groups of whole pipeline runs, longest first (measured with --durations on this 2-core machine)
LONGEST_GROUPS = ("demo_run", "small_run", "tests.test_bad_input", "tests.test_run_record",
                  "tests.test_output_folder", "tests.test_deploy", "tests.test_cli")


def _group(item) -> str:
    return item.get_closest_marker("xdist_group").args[0]


@pytest.fixture
def run_ingest_on(tmp_path):
    """Run the ingest stage on a folder; return (result, query function over the warehouse)."""
    from pipelines.ingest import run_ingest

    def _run(input_dir: Path, **methodology_overrides):
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
