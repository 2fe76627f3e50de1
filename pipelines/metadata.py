"""Asset metadata helpers: row counts, column schema, code versions (never beneficiary ids)."""
from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from dagster import MetadataValue, TableColumn, TableSchema

import pipelines


def table_metadata(path: Path, rows: int) -> dict:
    schema = pq.read_schema(path)
    return {
        "dagster/row_count": rows,
        "dagster/column_schema": TableSchema(columns=[TableColumn(f.name, str(f.type)) for f in schema]),
        "path": MetadataValue.path(str(path)),
        "asm_pipeline_version": pipelines.__version__,
    }
