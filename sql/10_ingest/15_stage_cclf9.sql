-- Ingest, stage: CCLF9 beneficiary id cross-walk (as text) -> typed (N1).
-- staging.stage_select adds raw_record: raw_row's text, for a quarantined row only
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
