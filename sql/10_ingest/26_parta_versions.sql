-- Ingest, Part A headers (CCLF1): rules per version before netting.
-- N1: current beneficiary id. N2: a claim (CUR_CLM_UNIQ_ID) delivered in several files counts once
-- (newest delivery kept). N3 (applied to Part A, DEFAULT): claims with a non-payment reason code are
-- excluded, as denied Part B claims are.
WITH ranked AS (
    SELECT s.* EXCLUDE (quarantine_reason, raw_record),
           coalesce(x.current_bene_id, s.source_bene_id) AS bene_id,
           (s.source_file_id::BIGINT << 40) + s.source_row AS version_key,
           row_number() OVER (PARTITION BY s.claim_id ORDER BY delivery_recency(s.delivery_date, s.delivery_file, s.source_file_id, s.source_row) DESC) AS copy_rank
    FROM stage_cclf1 AS s
    LEFT JOIN bene_xref AS x ON x.previous_bene_id = s.source_bene_id
    WHERE s.quarantine_reason IS NULL
)
SELECT * EXCLUDE (copy_rank),
       CASE WHEN copy_rank > 1 THEN 'N2' WHEN nonpayment_reason IS NOT NULL THEN 'N3' END AS rule,
       CASE
           WHEN copy_rank > 1 THEN 'claim re-delivered; newer copy kept'
           WHEN nonpayment_reason IS NOT NULL THEN 'non-payment reason ' || nonpayment_reason
       END AS detail
FROM ranked
