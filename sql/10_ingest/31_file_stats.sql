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
deliveries AS (
    -- bad input: a Part B delivery with enough lines is judged against the configured limits and
    -- against the run's Part B deliveries: its median allowed amount against their middle one (the
    -- median of their medians on a log scale, so one wrong delivery among three does not move it)
    SELECT f.source_file_id,
           CASE
               WHEN f.profile_lines < {{delivery_check_min_lines}} THEN NULL
               WHEN f.zero_tin_lines = f.profile_lines THEN 'every line''s TIN is all zeros'
               WHEN f.blank_dx_lines = f.profile_lines THEN 'every line''s diagnosis codes are blank'
               WHEN f.distinct_npis = 1 THEN 'every line has the same NPI'
               WHEN f.distinct_service_dates = 1 THEN 'every line has the same service date'
               WHEN f.negative_allowed_lines > {{delivery_max_negative_allowed_share}} * f.profile_lines
                   THEN printf('%.1f%% of original lines have a negative allowed amount (limit %.1f%%)',
                               100.0 * f.negative_allowed_lines / f.profile_lines,
                               100.0 * {{delivery_max_negative_allowed_share}})
               WHEN o.median_allowed > 0 AND (f.median_allowed > {{delivery_max_amount_ratio}} * o.median_allowed
                                              OR f.median_allowed * {{delivery_max_amount_ratio}} < o.median_allowed)
                   THEN printf('median allowed amount %.2f is %.3gx the deliveries'' median %.2f (limit %gx)',
                               f.median_allowed, f.median_allowed / o.median_allowed, o.median_allowed,
                               {{delivery_max_amount_ratio}})
           END AS delivery_problem
    FROM input_files AS f
    CROSS JOIN (SELECT exp(median(ln(median_allowed))) AS median_allowed FROM input_files
                WHERE profile_lines >= {{delivery_check_min_lines}} AND median_allowed > 0) AS o
    WHERE f.profile_lines IS NOT NULL
),
excluded AS (SELECT source_file, count(*) AS n FROM ingest_audit_rows GROUP BY source_file),
quarantined AS (SELECT source_file, count(*) AS n FROM quarantine_rows GROUP BY source_file)
SELECT f.source_file, f.kind, f.format,
       f.rows_read,
       coalesce(l.n, 0) + coalesce(b.n, 0) AS rows_loaded,
       coalesce(e.n, 0) AS rows_excluded,
       coalesce(q.n, 0) AS rows_quarantined,
       f.rows_read = coalesce(l.n, 0) + coalesce(b.n, 0) + coalesce(e.n, 0) + coalesce(q.n, 0) AS reconciled,
       f.padded_records, f.sha256, f.size AS bytes,
       f.profile_lines, f.negative_allowed_lines, f.median_allowed, f.distinct_npis, f.distinct_service_dates,
       f.blank_dx_lines, f.zero_tin_lines, d.delivery_problem
FROM input_files AS f
LEFT JOIN loaded AS l USING (source_file_id)
LEFT JOIN partb_loaded AS b USING (source_file_id)
LEFT JOIN excluded AS e USING (source_file)
LEFT JOIN quarantined AS q USING (source_file)
LEFT JOIN deliveries AS d USING (source_file_id)
WHERE f.kind IN ('cclf1', 'cclf4', 'cclf5', 'cclf8', 'cclf9', 'rif_carrier')
