-- Ingest, output parta_diagnoses (CCLF4): N1 current beneficiary id; N2 a diagnosis row
-- (claim id, sequence) delivered in several files counts once (newest kept, extras audited N2).
-- Join to parta_claims on claim_id.
SELECT s.* EXCLUDE (quarantine_reason, raw_record, source_bene_id),
       coalesce(x.current_bene_id, s.source_bene_id) AS bene_id,
       row_number() OVER (PARTITION BY s.claim_id, s.dx_sequence, s.dx
                          ORDER BY delivery_recency(s.delivery_date, s.delivery_file, s.source_file_id, s.source_row) DESC) > 1 AS is_redelivery
FROM stage_cclf4 AS s
LEFT JOIN bene_xref AS x ON x.previous_bene_id = s.source_bene_id
WHERE s.quarantine_reason IS NULL
