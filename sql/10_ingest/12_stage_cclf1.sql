-- Ingest, stage: CCLF1 Part A claim headers (as text) -> typed, with a quarantine reason or NULL.
-- N6 applies (nulls, sentinel dates, dotless upper-case diagnoses). Used by C1 (institutional cost,
-- CLM_PMT_AMT) and Q6 (admissions).
-- staging.stage_select adds raw_record: raw_row's text, for a quarantined row only
    SELECT source_row::BIGINT AS source_row,
           coalesce(cclf_text(delivery_file), {{source_file}}) AS delivery_file,
           coalesce(cclf_date(delivery_date_text), {{delivery_date}}::DATE) AS delivery_date,
           cclf_text(CUR_CLM_UNIQ_ID) AS claim_id,
           cclf_int(CUR_CLM_UNIQ_ID) AS claim_id_num,
           upper(cclf_text(BENE_MBI_ID)) AS source_bene_id,
           cclf_text(CLM_TYPE_CD) AS claim_type,
           cclf_date(CLM_FROM_DT) AS from_date,
           cclf_date(CLM_THRU_DT) AS thru_date,
           cclf_text(CLM_BILL_FAC_TYPE_CD) AS bill_facility_type,
           cclf_text(CLM_BILL_CLSFCTN_CD) AS bill_classification,
           dx_code(PRNCPL_DGNS_CD) AS principal_dx,
           dx_code(ADMTG_DGNS_CD) AS admitting_dx,
           cclf_text(CLM_MDCR_NPMT_RSN_CD) AS nonpayment_reason,
           cclf_amount(CLM_PMT_AMT) AS payment_amount,
           cclf_text(BENE_PTNT_STUS_CD) AS discharge_status,
           -- MS-DRG as 3 digits ('0291' and '291' are DRG 291)
           coalesce(lpad(CAST(TRY_CAST(cclf_text(DGNS_DRG_CD) AS INTEGER) AS VARCHAR), 3, '0'), cclf_text(DGNS_DRG_CD)) AS drg,
           cclf_text(FAC_PRVDR_NPI_NUM) AS facility_npi,
           coalesce(TRY_CAST(cclf_text(CLM_ADJSMT_TYPE_CD) AS INTEGER), 0) AS adjustment_type,
           cclf_date(CLM_EFCTV_DT) AS effective_date,
           cclf_text(CLM_ADMSN_TYPE_CD) AS admission_type,
           cclf_text(CLM_CNTL_NUM) AS claim_control_number,
           CASE
               WHEN cclf_text(CUR_CLM_UNIQ_ID) IS NULL THEN 'missing_key:claim_id'
               WHEN cclf_text(BENE_MBI_ID) IS NULL THEN 'missing_key:bene_id'
               WHEN cclf_date_is_bad(CLM_FROM_DT) THEN 'unparseable_date:from_date'
               WHEN cclf_date(CLM_FROM_DT) IS NULL THEN 'missing_key:from_date'
               WHEN cclf_date_is_bad(CLM_THRU_DT) THEN 'unparseable_date:thru_date'
               WHEN cclf_date_is_bad(CLM_EFCTV_DT) THEN 'unparseable_date:effective_date'
               WHEN cclf_amount_is_bad(CLM_PMT_AMT) THEN 'non_numeric_amount:payment_amount'
               WHEN cclf_date(CLM_THRU_DT) < cclf_date(CLM_FROM_DT) THEN 'impossible_date_order'
           END AS quarantine_reason,
           raw AS raw_row  -- the row as read, carried along by reference (no copy)
    FROM ({{raw}}) AS raw
