"""Ingest stage (N1-N6): CCLF / RIF claims files -> typed Parquet tables with every input row
accounted for. `run_ingest(settings, methodology)` is the stage; the SQL is `sql/10_ingest/`."""
from pipelines.engine.ingest.files import InputFile, InputFileError, discover
from pipelines.engine.ingest.stage import INGEST_TABLES, IngestResult, QuarantineRateExceeded, run_ingest

__all__ = ["INGEST_TABLES", "IngestResult", "InputFile", "InputFileError", "QuarantineRateExceeded", "discover",
           "run_ingest"]

# Every file this stage runs (its code version and code references); shared engine files are added
# by pipelines.engine.provenance.
SOURCES = ("pipelines/engine/ingest", "sql/10_ingest", "data/reference/layouts")
