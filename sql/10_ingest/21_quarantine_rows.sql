-- Ingest, output quarantine: every input row that could not be read, with a machine-readable
-- reason and the row as delivered (CCLF8 rows keep only the fields read: never names or addresses).
SELECT f.source_file, q.source_row, f.kind, q.reason, q.raw_record AS raw
FROM (
    SELECT source_file_id, source_row, reason, raw_record FROM reader_rejects
    UNION ALL SELECT source_file_id, source_row, quarantine_reason, raw_record FROM stage_partb WHERE quarantine_reason IS NOT NULL
    UNION ALL SELECT source_file_id, source_row, quarantine_reason, raw_record FROM stage_cclf1 WHERE quarantine_reason IS NOT NULL
    UNION ALL SELECT source_file_id, source_row, quarantine_reason, raw_record FROM stage_cclf4 WHERE quarantine_reason IS NOT NULL
    UNION ALL SELECT source_file_id, source_row, quarantine_reason, raw_record FROM stage_cclf8 WHERE quarantine_reason IS NOT NULL
    UNION ALL SELECT source_file_id, source_row, quarantine_reason, raw_record FROM stage_cclf9 WHERE quarantine_reason IS NOT NULL
) AS q
JOIN input_files AS f USING (source_file_id)
