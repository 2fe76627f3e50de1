"""The layout the architecture issue leaves: engine stages in pipelines/<stage>/ without Dagster, thin
assets, SQL numbered in execution order with a manifest per folder (and the README table generated
from them), one home for atomic writes, code versions and code references that cover the code."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.engine import episodes, ingest, projection, provenance, quality_gates, reports, scoring, sqlstage
from pipelines.engine.paths import REPO_ROOT, SQL_DIR

STAGE_SOURCES = {"ingest": ingest.SOURCES, "episodes": episodes.SOURCES, "scoring": scoring.SOURCES,
                 "quality_gates": quality_gates.SOURCES, "reports": reports.SOURCES, "projection": projection.SOURCES}
ENGINE = REPO_ROOT / "pipelines" / "engine"


def _imports(path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_import_contracts_hold():
    """The sides (command line > orchestration | synthetic data > engine), the layers inside the engine and
    inside assets/, no Dagster in the engine, no import cycle in any package: pyproject's [tool.importlinter]."""
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "5 kept, 0 broken" in done.stdout


def test_every_package_is_inside_one_side():
    """pipelines/ holds the four sides and nothing else (a new module goes into one of them)."""
    top = {p.name for p in (REPO_ROOT / "pipelines").iterdir() if not p.name.startswith("__")}
    assert top == {"cli", "engine", "synthetic"}
    assert (REPO_ROOT / "assets" / "definitions.py").is_file()


def test_assets_are_thin_declarations():
    """The stage declarations of assets/ (not the code location or the runner beside them) stay thin."""
    declarations = [f for f in (REPO_ROOT / "assets").glob("*.py") if f.name not in ("definitions.py", "runner.py")]
    lines = sum(len(f.read_text().splitlines()) for f in declarations)
    assert lines < 900, f"assets/ holds {lines} lines of declarations; engine code belongs in pipelines/engine/"


def _asset_declarations_imported(path) -> set[str]:
    """assets.<module> imports of a file, but the code location, runner and runtime (orchestration
    infrastructure every whole-run test uses)."""
    infrastructure = ("assets.runner", "assets.runtime", "assets.definitions")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
            [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
        found |= {n for n in names if (n == "assets" or n.startswith("assets.")) and not n.startswith(infrastructure)}
    return found


def test_tests_and_benchmarks_call_the_engine_not_asset_modules():
    """Only the Dagster wiring tests (definitions, blocking checks) may import asset declarations."""
    allowed = {"test_dq_blocking.py", "test_definitions.py", "test_architecture.py", "test_deploy.py"}
    offenders = [f"{f.parent.name}/{f.name}" for d in ("tests", "benchmarks") for f in (REPO_ROOT / d).glob("*.py")
                 if f.name not in allowed and _asset_declarations_imported(f)]
    assert offenders == []


def test_atomic_writes_have_one_home():
    """The temporary-name-then-rename write lives in pipelines/engine/warehouse.py only."""
    pattern = re.compile(r"os\.(replace|rename)\(|shutil\.move\(")
    offenders = [str(f.relative_to(REPO_ROOT)) for f in (REPO_ROOT / "pipelines").rglob("*.py")
                 if f.name != "warehouse.py" and pattern.search(f.read_text())]
    assert offenders == []


@pytest.mark.parametrize("manifest", sqlstage.manifests(), ids=lambda m: m.folder)
def test_sql_manifest_matches_its_folder_in_execution_order(manifest):
    assert sqlstage.problems(manifest) == []


def test_every_sql_file_belongs_to_a_manifest():
    listed = {f"{m.folder}/{f}" for m in sqlstage.manifests() for f in m.sql_files()}
    on_disk = {str(p.relative_to(SQL_DIR)) for p in SQL_DIR.glob("*/*.sql")}
    assert on_disk - listed <= {"90_checks/00_check_macros.sql"}


def test_manifest_check_catches_an_undeclared_read_and_a_misordered_file(monkeypatch):
    m = sqlstage.load_manifest("40_attribution")
    broken = sqlstage.Manifest(m.folder, m.stage, m.description, m.inputs,
                               tuple(reversed([sqlstage.Step(s.file, s.creates, s.writes, s.hook, (), s.drops)
                                               for s in m.steps])))
    found = sqlstage.problems(broken)
    assert any("not numbered in execution order" in p for p in found)
    assert any("without declaring it in reads" in p for p in found)


def test_readme_sql_table_is_generated_from_the_manifests():
    readme = (REPO_ROOT / "README.md").read_text()
    block = readme.split("<!-- sql-steps:begin -->")[1].split("<!-- sql-steps:end -->")[0]
    assert block.strip() == sqlstage.markdown_table().strip(), \
        "regenerate with: python -m pipelines.engine.sqlstage --markdown"


@pytest.mark.parametrize("stage", sorted(STAGE_SOURCES))
def test_code_version_covers_every_python_module_and_sql_file_of_the_stage(stage):
    covered = {str(f.relative_to(REPO_ROOT)) for f in provenance.source_files(STAGE_SOURCES[stage])}
    package = ENGINE / stage
    assert {str(f.relative_to(REPO_ROOT)) for f in package.rglob("*.py")} <= covered
    for folder in {m.folder for m in sqlstage.manifests() if m.stage == stage}:
        assert {str(p.relative_to(REPO_ROOT)) for p in (SQL_DIR / folder).glob("*.sql")} <= covered


def test_code_version_changes_when_any_covered_file_changes(tmp_path, monkeypatch):
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "rule.py").write_text("K = 0.1\n")
    (tmp_path / "sql").mkdir()
    (tmp_path / "sql" / "1.sql").write_text("SELECT 1\n")
    monkeypatch.setattr(provenance, "REPO_ROOT", tmp_path)
    before = provenance.files_fingerprint(["pipelines", "sql/1.sql"])
    (tmp_path / "pipelines" / "rule.py").write_text("K = 0.2\n")
    assert provenance.files_fingerprint(["pipelines", "sql/1.sql"]) != before
    with pytest.raises(FileNotFoundError):
        provenance.files_fingerprint(["pipelines/missing.py"])


def test_every_asset_carries_code_references_to_its_declaration_and_engine(tmp_path):
    from assets.definitions import build_definitions
    from pipelines.engine.settings import RunSettings

    defs = build_definitions(RunSettings(input_dir=tmp_path, out_dir=tmp_path))
    for spec in defs.resolve_all_asset_specs():
        if spec.key.to_user_string() == "publish":
            continue
        refs = spec.metadata["dagster/code_references"].code_references
        labels = {r.label for r in refs}
        assert any(label.startswith("assets/") for label in labels), spec.key
        assert any(label.startswith("pipelines/") and label != "pipelines/engine/duck.py" for label in labels), spec.key
        if spec.group_name != "side_inputs":  # observed, not computed: no code version
            assert spec.code_version and "-" in spec.code_version
