"""Publish: move this run's staged tables into OUT/warehouse and its staged reports folder into
OUT/reports, only after every upstream asset materialized and every blocking check passed.

Every asset writes to OUT/.staging/<run id>/ (pipelines.warehouse). `publish` depends on every other
asset, so a failed blocking check (or a failed step) anywhere upstream skips it and the previous
run's OUT/warehouse stays exactly as it was; the failed run's staged tables stay for inspection.
"""
from __future__ import annotations

from dagster import AssetDep, MaterializeResult, MetadataValue, asset

from pipelines.resources import AsmResource
from pipelines.warehouse import publish_run

PUBLISH_ASSET = "publish"


def publish_asset(upstream: list[str]):
    @asset(name=PUBLISH_ASSET, deps=[AssetDep(k) for k in upstream], group_name="publish", kinds={"parquet"},
           description="Moves this run's staged tables into OUT/warehouse and its reports into OUT/reports once "
                       "every blocking check passed.")
    def publish(context, asm: AsmResource):
        settings = asm.settings()
        tables, reports = publish_run(settings.warehouse)
        context.log.info(f"published {len(tables)} tables to {settings.warehouse_dir}")
        return MaterializeResult(metadata={
            "published_tables": MetadataValue.json(tables),
            "warehouse": MetadataValue.path(str(settings.warehouse_dir)),
            "reports": MetadataValue.path(str(settings.reports_dir)) if reports else "no reports staged by this run",
        })

    return publish
