"""What every asset module shares: table metadata (row count, column schema; never beneficiary ids),
code versions and code references covering the stage's files, the one-line failure and the
concurrency pool of DuckDB-heavy steps."""
from __future__ import annotations

import warnings
from pathlib import Path

import pyarrow.parquet as pq
from dagster import (AssetSpec, CodeReferencesMetadataValue, Failure, LocalFileCodeReference, MetadataValue,
                     TableColumn, TableSchema)

import pipelines
from pipelines.engine.paths import REPO_ROOT
from pipelines.engine.provenance import SHARED_SOURCES, source_files, stage_code_version
from pipelines.engine.snapshots import published_location

# Steps that run DuckDB over the claims share the machine's cores and memory: dagster.yaml limits how
# many run at once across runs (concurrency pool; README "Operations").
DUCKDB_POOL = "duckdb"


def table_metadata(path: Path, rows: int) -> dict:
    schema = pq.read_schema(sorted(Path(path).glob("*.parquet"))[0] if Path(path).is_dir() else path)
    return {
        "dagster/row_count": rows,
        "dagster/column_schema": TableSchema(columns=[TableColumn(f.name, str(f.type)) for f in schema]),
        "path": MetadataValue.path(str(published_location(path))),
        "asm_pipeline_version": pipelines.__version__,
    }


def code_references(asset_module: str, sources: tuple[str, ...]) -> dict:
    """`dagster/code_references`: the asset's declaration and every file of its engine stage."""
    files = [REPO_ROOT / asset_module, *[f for f in source_files(sources) if f.suffix in (".py", ".sql", ".toml")]]
    warnings.filterwarnings("ignore", message=".*is currently in beta", category=Warning)
    refs = [LocalFileCodeReference(file_path=str(f), label=str(f.relative_to(REPO_ROOT))) for f in files]
    return {"dagster/code_references": CodeReferencesMetadataValue(code_references=refs)}


def stage_specs(tables: tuple[str, ...], descriptions: dict[str, str], *, group: str, sources: tuple[str, ...],
                methodology_fingerprint: str, asset_module: str, kinds: set[str], deps=()) -> list[AssetSpec]:
    """One AssetSpec per table of a stage, all with the stage's code version and code references."""
    version = stage_code_version(sources, methodology_fingerprint)
    refs = code_references(asset_module, (*SHARED_SOURCES, *sources))
    return [AssetSpec(t, description=descriptions[t], group_name=group, code_version=version, kinds=kinds,
                      deps=list(deps), metadata=refs) for t in tables]


def failure(stage: str, exc: Exception) -> Failure:
    """A user error as a one-line Dagster failure (`asm run` prints it); never retried."""
    return Failure(description=f"{stage}: {exc}", allow_retries=False)
