"""The engine: one package per stage (ingest, episodes, scoring, projection, quality_gates, reports) and
their base (warehouse, sqlstage, duck, methodology, reference, provenance, tables, settings, outfolder,
shards, errors, compare). Plain functions from tables and parameters to tables: no Dagster, no command
line (checked by the import contracts in pyproject.toml)."""
