"""Publish (issue 6): move this run's staged tables into OUT/warehouse and its staged reports folder
into OUT/reports, only after every upstream asset materialized and every blocking check passed.

Every asset writes to `RunSettings.table_path()` = OUT/.staging/<run id>/. `publish` depends on all
other assets, so a failed blocking check (or a failed step) anywhere upstream skips it and the
previous run's OUT/warehouse stays exactly as it was; the staged tables of the failed run stay in
OUT/.staging/<run id>/ for inspection.
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from dagster import AssetDep, MaterializeResult, MetadataValue, asset

from pipelines.resources import AsmResource
from pipelines.settings import RunSettings

PUBLISH_ASSET = "publish"


def swap_dir(src: Path, dst: Path) -> None:
    """Replace folder `dst` by `src` (two renames on one file system; the old copy is removed after)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    old = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:8]}.old")
    if dst.exists():
        os.replace(dst, old)
    os.replace(src, dst)
    shutil.rmtree(old, ignore_errors=True)


def publish_reports(settings: RunSettings) -> bool:
    """Swap this run's staged reports folder (OUT/.staging/<run>/reports) into OUT/reports whole:
    the published reports always come from one run whose checks all passed."""
    staging = settings.staging_dir
    src = staging / "reports" if staging is not None else None
    if src is None or not src.is_dir():
        return False
    swap_dir(src, settings.reports_dir)
    return True


def publish_tables(settings: RunSettings) -> list[str]:
    """Move every staged table of this run into the warehouse, one atomic rename per table
    (a sharded table's folder is swapped whole). Returns the published table names."""
    staging = settings.staging_dir
    if staging is None or not staging.is_dir():
        return []
    settings.warehouse_dir.mkdir(parents=True, exist_ok=True)
    published = []
    for src in sorted(staging.iterdir()):
        if src.name.startswith(".") or not src.name.endswith(".parquet"):
            continue
        dst = settings.warehouse_dir / src.name
        if src.is_dir():
            old = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:8]}.old")
            if dst.exists():
                os.replace(dst, old)
            os.replace(src, dst)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(src, dst)
        published.append(src.name.removesuffix(".parquet"))
    shutil.rmtree(staging, ignore_errors=True)  # the staged reports folder is published before this
    _remove_if_empty(staging.parent)
    return published


def _remove_if_empty(p: Path) -> None:
    try:
        p.rmdir()
    except OSError:
        pass


def publish_asset(upstream: list[str]):
    @asset(
        name=PUBLISH_ASSET,
        deps=[AssetDep(k) for k in upstream],
        group_name="publish",
        description="Moves this run's staged tables into OUT/warehouse and its reports into OUT/reports once "
                    "every blocking check passed.",
        kinds={"parquet"},
    )
    def publish(context, asm: AsmResource):
        settings = asm.settings()
        reports = publish_reports(settings)  # before the tables: publish_tables removes the staging folder
        tables = publish_tables(settings)
        context.log.info(f"published {len(tables)} tables to {settings.warehouse_dir}")
        return MaterializeResult(metadata={
            "published_tables": MetadataValue.json(tables),
            "warehouse": MetadataValue.path(str(settings.warehouse_dir)),
            "reports": MetadataValue.path(str(settings.reports_dir)) if reports else "no reports staged by this run",
        })

    return publish
