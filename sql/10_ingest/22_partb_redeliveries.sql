-- Ingest, rule N2 (Part B): the same line (CUR_CLM_UNIQ_ID, CLM_LINE_NUM) delivered in several files
-- counts once: the newest delivery is kept (delivery_recency(), sql/00_macros.sql). One row per extra
-- copy (its version_key), excluded with rule N2 by 23_partb_versions. Only keys seen more than once are
-- ranked, so this costs a narrow scan, not a sort of every version.
WITH copies AS (
    SELECT claim_id, line_number
    FROM stage_partb
    WHERE quarantine_reason IS NULL
    GROUP BY ALL
    HAVING count(*) > 1
)
SELECT (s.source_file_id::BIGINT << 40) + s.source_row AS version_key
FROM stage_partb AS s
SEMI JOIN copies USING (claim_id, line_number)
WHERE s.quarantine_reason IS NULL
QUALIFY row_number() OVER (PARTITION BY s.claim_id, s.line_number
                           ORDER BY delivery_recency(s.delivery_date, s.delivery_file, s.source_file_id, s.source_row) DESC) > 1
