-- Ingest, output ingest_audit: every input row excluded by a rule (N1-N4), from 30_ingest_audit_rows.
SELECT * FROM ingest_audit_rows
