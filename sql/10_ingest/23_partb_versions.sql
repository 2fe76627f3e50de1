-- Ingest, rules N1-N4 (before netting): every readable Part B version (a view over the staged files)
-- with its current beneficiary id and the rule that excludes it, if any.
-- N1: beneficiary id mapped to its most recent id through the resolved cross-walk (bene_xref).
-- N2: extra copies of a re-delivered line (22_partb_redeliveries) are excluded.
-- N3: denied claims (CLM_CARR_PMT_DNL_CD = '0') and processing indicator other than 'A' are excluded.
-- N4: RIF carrier rows that are not final action (FINAL_ACTION <> 'F') are excluded.
WITH versions AS (
    SELECT s.* EXCLUDE (quarantine_reason, raw_record),
           coalesce(x.current_bene_id, s.source_bene_id) AS bene_id,
           (s.source_file_id::BIGINT << 40) + s.source_row AS version_key
    FROM stage_partb AS s
    LEFT JOIN bene_xref AS x ON x.previous_bene_id = s.source_bene_id
    WHERE s.quarantine_reason IS NULL
)
SELECT v.*,
       CASE
           WHEN r.version_key IS NOT NULL THEN 'N2'
           WHEN v.denial_code = '0' THEN 'N3'
           WHEN coalesce(v.processing_indicator, '') <> 'A' THEN 'N3'
           WHEN v.layout = 'rif' AND coalesce(v.final_action, '') <> 'F' THEN 'N4'
       END AS rule,
       CASE
           WHEN r.version_key IS NOT NULL THEN 'line re-delivered; newer copy kept'
           WHEN v.denial_code = '0' THEN 'denied claim (CLM_CARR_PMT_DNL_CD 0)'
           WHEN coalesce(v.processing_indicator, '') <> 'A'
               THEN 'processing indicator ' || coalesce(v.processing_indicator, 'blank') || ' is not A'
           WHEN v.layout = 'rif' AND coalesce(v.final_action, '') <> 'F'
               THEN 'not final action (FINAL_ACTION ' || coalesce(v.final_action, 'blank') || ')'
       END AS detail
FROM versions AS v
LEFT JOIN partb_redeliveries AS r USING (version_key)
