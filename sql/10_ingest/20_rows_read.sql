-- Ingest, reconciliation input: physical rows read per file (every staged row plus every reader
-- reject), counted before the stage tables are dropped (data-contracts "Bad input").
SELECT source_file_id, count(*) AS rows_read FROM (
    SELECT source_file_id FROM stage_partb UNION ALL SELECT source_file_id FROM stage_cclf1
    UNION ALL SELECT source_file_id FROM stage_cclf4 UNION ALL SELECT source_file_id FROM stage_cclf8
    UNION ALL SELECT source_file_id FROM stage_cclf9 UNION ALL SELECT source_file_id FROM reader_rejects)
GROUP BY source_file_id
