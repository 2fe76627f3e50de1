"""Ingest assets: one multi-asset, because one pass over the input files yields every ingest table
and the per-file reconciliation must see them all. Engine: `pipelines.engine.ingest`."""
from __future__ import annotations

from dagster import MaterializeResult, MetadataValue, multi_asset

from assets._common import DUCKDB_POOL, failure, stage_specs, table_metadata
from pipelines.engine.ingest import INGEST_TABLES, SOURCES, InputFileError, QuarantineRateExceeded, run_ingest
from pipelines.engine.methodology import Methodology
from assets.runtime.resources import AsmResource

def _files_table(files: list[dict]) -> str:
    head = "| file | kind | read | loaded | excluded | quarantined | reconciled |\n|---|---|---|---|---|---|---|\n"
    return head + "\n".join(
        f"| {f['source_file']} | {f['kind']} | {f['rows_read']} | {f['rows_loaded']} | {f['rows_excluded']} "
        f"| {f['rows_quarantined']} | {f['reconciled']} |" for f in files)


def ingest_asset(methodology: Methodology):
    @multi_asset(pool=DUCKDB_POOL, name="ingest", can_subset=False,
                 specs=stage_specs("ingest", sources=SOURCES,
                                   methodology_fingerprint=methodology.fingerprint, asset_module="assets/ingest.py",
                                   kinds={"duckdb", "parquet"}))
    def ingest(context, asm: AsmResource):
        settings, m = asm.settings(), asm.methodology()
        try:
            result = run_ingest(settings, m)
        except (InputFileError, QuarantineRateExceeded) as exc:
            raise failure("ingest", exc) from None
        if result.unreconciled:
            raise failure("ingest", "reconciliation failed: rows read != loaded + excluded + quarantined for "
                          + ", ".join(result.unreconciled))
        context.log.info(f"ingest: {result.totals} in {result.seconds:.1f}s; {result.netting}")
        run_md = {**result.totals, "files": MetadataValue.md(_files_table(result.files)),
                  "ignored_files": MetadataValue.json(result.ignored), "seconds": round(result.seconds, 2),
                  "step_seconds": MetadataValue.json(result.step_seconds), "netting": result.netting}
        extra = {
            "partb_lines": {**run_md, "cost_basis": MetadataValue.json(result.cost_basis),
                            "methodology_version": m.version},
            "ingest_files": run_md,
            "quarantine": {"rows_by_reason": MetadataValue.json(result.quarantine_reasons)},
            "ingest_audit": {"rows_by_rule": MetadataValue.json(result.audit_rules)},
        }
        for table in INGEST_TABLES:
            md = table_metadata(settings.table_path(table), result.row_counts[table])
            yield MaterializeResult(asset_key=table, metadata={**md, **extra.get(table, {})})

    return ingest
