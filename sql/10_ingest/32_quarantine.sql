-- Ingest, output quarantine (data-contracts "Bad input"): every input row that could not be read,
-- with its machine-readable reason and the row as delivered (from 21_quarantine_rows).
SELECT * FROM quarantine_rows
