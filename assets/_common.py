"""What every asset module shares: table metadata (row count, column schema; never beneficiary ids),
code versions and code references covering the stage's files, the one-line failure and the
concurrency pool of DuckDB-heavy steps."""
from __future__ import annotations

import warnings
from pathlib import Path

import pyarrow.parquet as pq
from dagster import (AssetDep, AssetSpec, CodeReferencesMetadataValue, Failure, LocalFileCodeReference, MetadataValue,
                     TableColumn, TableSchema)

import pipelines
from pipelines.engine import registry
from pipelines.engine.paths import REPO_ROOT
from pipelines.engine.provenance import SHARED_SOURCES, source_files, stage_code_version
from pipelines.engine.snapshots import published_location

# Steps that run DuckDB over the claims share the machine's cores and memory: dagster.yaml limits how
# many run at once across runs (concurrency pool; README "Operations").
DUCKDB_POOL = "duckdb"


def table_metadata(path: Path, rows: int) -> dict:
    """Row count, the column schema with each column's description (pipelines.engine.registry) and where
    the table is published."""
    schema = pq.read_schema(sorted(Path(path).glob("*.parquet"))[0] if Path(path).is_dir() else path)
    described = registry.table(Path(path).name.removesuffix(".parquet")).columns
    return {
        "dagster/row_count": rows,
        "dagster/column_schema": TableSchema(columns=[TableColumn(f.name, str(f.type), described.get(f.name))
                                                      for f in schema]),
        "path": MetadataValue.path(str(published_location(path))),
        "asm_pipeline_version": pipelines.__version__,
    }


def written_metadata(settings, table: str, frame) -> dict:
    """`table_metadata` of a table the engine stage just wrote (`frame`: what it wrote)."""
    return table_metadata(settings.table_path(table), frame.height)


def code_references(asset_module: str, sources: tuple[str, ...]) -> dict:
    """`dagster/code_references`: the asset's declaration and every file of its engine stage."""
    files = [REPO_ROOT / asset_module, *[f for f in source_files(sources) if f.suffix in (".py", ".sql", ".toml")]]
    warnings.filterwarnings("ignore", message=".*is currently in beta", category=Warning)
    refs = [LocalFileCodeReference(file_path=str(f), label=str(f.relative_to(REPO_ROOT))) for f in files]
    return {"dagster/code_references": CodeReferencesMetadataValue(code_references=refs)}


def stage_specs(stage: str, *, sources: tuple[str, ...], methodology_fingerprint: str, asset_module: str,
                kinds: set[str], with_deps: bool = True) -> list[AssetSpec]:
    """One AssetSpec per table the registry says `stage` writes: its description, the stage as its group,
    the tables and side inputs it is computed from as its dependencies (`with_deps`; a graph-backed
    stage declares them as its graph's inputs instead), the stage's code version and code references."""
    version = stage_code_version(sources, methodology_fingerprint)
    refs = code_references(asset_module, (*SHARED_SOURCES, *sources))
    return [AssetSpec(t.name, description=t.description, group_name=stage, code_version=version, kinds=kinds,
                      deps=[AssetDep(d) for d in t.reads] if with_deps else [], metadata=refs)
            for t in registry.tables().values() if t.stage == stage]


def failure(stage: str, exc: Exception) -> Failure:
    """A user error as a one-line Dagster failure (`asm run` prints it); never retried."""
    return Failure(description=f"{stage}: {exc}", allow_retries=False)
