-- Ingest, output ingest_files: per input file, rows read = loaded + excluded + quarantined
-- (data-contracts "Bad input"). rows_read is the physical rows counted when each file was staged;
-- rows_loaded is counted from the versions and netting, independently, so `reconciled` is a real
-- check, not an identity.
WITH loaded AS (
    SELECT source_file_id, count(*) AS n FROM (
        SELECT v.source_file_id FROM parta_versions AS v
        JOIN parta_netting AS g USING (claim_control_number, bene_id)
        WHERE v.rule IS NULL AND g.survives
        UNION ALL SELECT source_file_id FROM parta_diagnosis_versions WHERE NOT is_redelivery
        UNION ALL SELECT source_file_id FROM beneficiary_versions WHERE NOT is_superseded
        UNION ALL SELECT source_file_id FROM xref_versions WHERE rule IS NULL)
    GROUP BY source_file_id
),
partb_loaded AS (
    -- Part B: versions no rule excludes, less those whose line is netted away (25_partb_netted_away)
    SELECT source_file_id, count(*) FILTER (WHERE rule IS NULL) - coalesce(any_value(w.n), 0) AS n
    FROM partb_versions AS v
    LEFT JOIN (SELECT source_file_id, count(*) AS n FROM partb_netted_away GROUP BY ALL) AS w USING (source_file_id)
    GROUP BY source_file_id
),
excluded AS (SELECT source_file, count(*) AS n FROM ingest_audit_rows GROUP BY source_file),
quarantined AS (SELECT source_file, count(*) AS n FROM quarantine_rows GROUP BY source_file)
SELECT f.source_file, f.kind, f.format,
       f.rows_read,
       coalesce(l.n, 0) + coalesce(b.n, 0) AS rows_loaded,
       coalesce(e.n, 0) AS rows_excluded,
       coalesce(q.n, 0) AS rows_quarantined,
       f.rows_read = coalesce(l.n, 0) + coalesce(b.n, 0) + coalesce(e.n, 0) + coalesce(q.n, 0) AS reconciled
FROM input_files AS f
LEFT JOIN loaded AS l USING (source_file_id)
LEFT JOIN partb_loaded AS b USING (source_file_id)
LEFT JOIN excluded AS e USING (source_file)
LEFT JOIN quarantined AS q USING (source_file)
WHERE f.kind IN ('cclf1', 'cclf4', 'cclf5', 'cclf8', 'cclf9', 'rif_carrier')
