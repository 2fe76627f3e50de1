-- Ingest, beneficiaries (CCLF8): one row per current beneficiary id (N1). CMS re-sends demographics
-- each month: the newest delivery wins [DEFAULT], then the row delivered under the current id;
-- older rows are audited (rule N2). Never carries names or addresses.
SELECT s.* EXCLUDE (quarantine_reason, raw_record),
       coalesce(x.current_bene_id, s.source_bene_id) AS bene_id,
       row_number() OVER (PARTITION BY coalesce(x.current_bene_id, s.source_bene_id)
                          ORDER BY coalesce(s.delivery_date, DATE '0001-01-01') DESC,
                                   (s.source_bene_id = coalesce(x.current_bene_id, s.source_bene_id)) DESC,
                                   delivery_recency(s.delivery_date, s.delivery_file, s.source_file_id, s.source_row) DESC) > 1 AS is_superseded
FROM stage_cclf8 AS s
LEFT JOIN bene_xref AS x ON x.previous_bene_id = s.source_bene_id
WHERE s.quarantine_reason IS NULL
