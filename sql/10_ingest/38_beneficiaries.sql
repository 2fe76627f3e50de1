-- Ingest, output beneficiaries (CCLF8): one row per current beneficiary id, newest delivery (N1, N2);
-- see 29_beneficiary_versions. No names or addresses are ever read.
SELECT * EXCLUDE (is_superseded, source_file_id) FROM beneficiary_versions WHERE NOT is_superseded
