-- Ingest, rules N1-N4 (before netting): every readable Part B version gets its current beneficiary id
-- and the rule that excludes it, if any.
-- N1: beneficiary id mapped to its most recent id through the resolved cross-walk (bene_xref).
-- N2: the same line (claim id, line number) delivered in several files counts once: keep the newest
--     delivery (delivery date, then file name, then row); the extra copies are excluded with rule N2.
-- N3: denied claims (CLM_CARR_PMT_DNL_CD = '0') and processing indicator other than 'A' are excluded.
-- N4: RIF carrier rows that are not final action (FINAL_ACTION <> 'F') are excluded.
WITH ranked AS (
    SELECT s.* EXCLUDE (quarantine_reason, raw_record),
           coalesce(x.current_bene_id, s.source_bene_id) AS bene_id,
           (s.source_file_id::BIGINT << 40) + s.source_row AS version_key,
           row_number() OVER (PARTITION BY s.claim_id, s.line_number
                              ORDER BY delivery_recency(s.delivery_date, s.delivery_file, s.source_file_id, s.source_row) DESC) AS copy_rank
    FROM stage_partb AS s
    LEFT JOIN bene_xref AS x ON x.previous_bene_id = s.source_bene_id
    WHERE s.quarantine_reason IS NULL
)
SELECT * EXCLUDE (copy_rank),
       CASE
           WHEN copy_rank > 1 THEN 'N2'
           WHEN denial_code = '0' THEN 'N3'
           WHEN coalesce(processing_indicator, '') <> 'A' THEN 'N3'
           WHEN layout = 'rif' AND coalesce(final_action, '') <> 'F' THEN 'N4'
       END AS rule,
       CASE
           WHEN copy_rank > 1 THEN 'line re-delivered; newer copy kept'
           WHEN denial_code = '0' THEN 'denied claim (CLM_CARR_PMT_DNL_CD 0)'
           WHEN coalesce(processing_indicator, '') <> 'A'
               THEN 'processing indicator ' || coalesce(processing_indicator, 'blank') || ' is not A'
           WHEN layout = 'rif' AND coalesce(final_action, '') <> 'F'
               THEN 'not final action (FINAL_ACTION ' || coalesce(final_action, 'blank') || ')'
       END AS detail
FROM ranked
