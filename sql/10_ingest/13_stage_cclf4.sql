-- Ingest, stage: CCLF4 Part A diagnosis rows (as text) -> typed, with a quarantine reason or NULL.
-- staging.stage_select adds raw_record: raw_row's text, for a quarantined row only
    SELECT source_row::BIGINT AS source_row,
           coalesce(cclf_text(delivery_file), {{source_file}}) AS delivery_file,
           coalesce(cclf_date(delivery_date_text), {{delivery_date}}::DATE) AS delivery_date,
           cclf_text(CUR_CLM_UNIQ_ID) AS claim_id,
           upper(cclf_text(BENE_MBI_ID)) AS source_bene_id,
           cclf_text(CLM_TYPE_CD) AS claim_type,
           TRY_CAST(cclf_text(CLM_VAL_SQNC_NUM) AS INTEGER) AS dx_sequence,
           dx_code(CLM_DGNS_CD) AS dx,
           cclf_date(CLM_FROM_DT) AS from_date,
           cclf_date(CLM_THRU_DT) AS thru_date,
           cclf_text(CLM_POA_IND) AS present_on_admission,
           CASE
               WHEN cclf_text(CUR_CLM_UNIQ_ID) IS NULL THEN 'missing_key:claim_id'
               WHEN cclf_text(BENE_MBI_ID) IS NULL THEN 'missing_key:bene_id'
               WHEN dx_code(CLM_DGNS_CD) IS NULL THEN 'missing_key:dx'
               WHEN cclf_date_is_bad(CLM_FROM_DT) THEN 'unparseable_date:from_date'
               WHEN cclf_date_is_bad(CLM_THRU_DT) THEN 'unparseable_date:thru_date'
               WHEN coalesce(cclf_text(DGNS_PRCDR_ICD_IND), '0') NOT IN ('0', '9') THEN 'unknown_code_system'
           END AS quarantine_reason,
           raw AS raw_row  -- the row as read, carried along by reference (no copy)
    FROM ({{raw}}) AS raw
