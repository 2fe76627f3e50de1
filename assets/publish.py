"""Publish: this run's staged tables and reports become a new snapshot OUT/snapshots/<run id>/, and
OUT/current switches to it in one rename (OUT/warehouse and OUT/reports are links through it), only
after every upstream asset materialized and every blocking check passed.

Every asset writes to OUT/.staging/<run id>/ (pipelines.engine.warehouse). `publish` depends on every other
asset, so a failed blocking check (or a failed step) anywhere upstream skips it and the previous
snapshot stays current; the failed run's staged tables stay for inspection (cleaning rule:
pipelines.engine.outfolder). The snapshot carries provenance.json (inputs, config, code versions).
"""
from __future__ import annotations

import json

from dagster import AssetDep, MaterializeResult, MetadataValue, asset

from assets._common import code_references
from assets.provenance import provenance_metadata, run_provenance
from pipelines.engine.provenance import stage_code_version
from assets.runtime.resources import AsmResource
from pipelines.engine.snapshots import publish_run

PUBLISH_ASSET = "publish"
SOURCES = ("pipelines/engine/warehouse.py", "pipelines/engine/snapshots.py", "pipelines/engine/outfolder.py", "pipelines/engine/provenance.py")


def publish_asset(upstream: list[str], code_versions: dict[str, str] | None = None):
    @asset(name=PUBLISH_ASSET, deps=[AssetDep(k) for k in upstream], group_name="publish", kinds={"parquet"},
           description="Publishes this run's staged tables and reports as a new snapshot and switches "
                       "OUT/current to it in one rename, once every blocking check passed.",
           code_version=stage_code_version(SOURCES, "publish"), metadata=code_references("assets/publish.py", SOURCES))
    def publish(context, asm: AsmResource):
        settings = asm.settings()
        provenance = run_provenance(context, asm, code_versions or {})
        done = publish_run(settings.warehouse, settings.keep_snapshots,
                           {"provenance.json": json.dumps(provenance, indent=1, default=str) + "\n"})
        context.log.info(f"published {len(done.tables)} tables as {done.snapshot}")
        return MaterializeResult(metadata={
            "snapshot": MetadataValue.path(str(done.snapshot)),
            "published_tables": MetadataValue.json(done.tables),
            "kept_from_previous_snapshot": MetadataValue.json(done.kept),
            "warehouse": MetadataValue.path(str(settings.warehouse_dir)),
            "reports": MetadataValue.path(str(settings.reports_dir)) if done.reports
            else "reports of the previous snapshot kept",
            **provenance_metadata(provenance),
        })

    return publish
