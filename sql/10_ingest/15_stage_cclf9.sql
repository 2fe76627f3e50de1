-- Ingest, stage: CCLF9 beneficiary id cross-walk (as text) -> typed (N1).
WITH typed AS (
    SELECT source_row::BIGINT AS source_row,
           coalesce(cclf_text(delivery_file), {{source_file}}) AS delivery_file,
           coalesce(cclf_date(delivery_date_text), {{delivery_date}}::DATE) AS delivery_date,
           cclf_text(HICN_MBI_XREF_IND) AS xref_indicator,
           upper(cclf_text(CRNT_NUM)) AS current_bene_id,
           upper(cclf_text(PRVS_NUM)) AS previous_bene_id,
           cclf_date(PRVS_ID_EFCTV_DT) AS previous_effective_date,
           cclf_date(PRVS_ID_OBSLT_DT) AS previous_obsolete_date,
           CASE
               WHEN cclf_text(CRNT_NUM) IS NULL THEN 'missing_key:current_bene_id'
               WHEN cclf_text(PRVS_NUM) IS NULL THEN 'missing_key:previous_bene_id'
               WHEN cclf_date_is_bad(PRVS_ID_EFCTV_DT) THEN 'unparseable_date:previous_effective_date'
               WHEN cclf_date_is_bad(PRVS_ID_OBSLT_DT) THEN 'unparseable_date:previous_obsolete_date'
           END AS quarantine_reason,
           raw AS raw_row  -- the row as read, carried along by reference (no copy)
    FROM ({{raw}}) AS raw
)
-- the row as delivered (readers.RawRead.raw_fields, over raw_row): text only for a quarantined row
SELECT * EXCLUDE (raw_row),
       CASE WHEN quarantine_reason IS NOT NULL THEN raw_text({{raw_fields}}, {{raw_delimiter}}) END AS raw_record
FROM typed
