-- Ingest, beneficiaries (CCLF8): one row per current beneficiary id (N1). CMS re-sends demographics
-- each month: the newest delivery wins [DEFAULT], then the row delivered under the current id;
-- older rows are audited (rule N2). Never carries names or addresses.
SELECT s.* EXCLUDE (quarantine_reason, raw_record),
       coalesce(x.current_bene_id, s.source_bene_id) AS bene_id,
       row_number() OVER (PARTITION BY coalesce(x.current_bene_id, s.source_bene_id)
                          ORDER BY s.delivery_date DESC NULLS LAST,
                                   (s.source_bene_id = coalesce(x.current_bene_id, s.source_bene_id)) DESC,
                                   s.delivery_file DESC, s.source_file_id DESC, s.source_row DESC) > 1 AS is_superseded
FROM stage_cclf8 AS s
LEFT JOIN bene_xref AS x ON x.previous_bene_id = s.source_bene_id
WHERE s.quarantine_reason IS NULL
