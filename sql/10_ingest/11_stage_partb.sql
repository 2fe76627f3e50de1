-- Ingest, stage: raw Part B rows (CCLF5 or RIF carrier, as text) -> typed versions, one per input row,
-- with the first reason the row cannot be used (quarantine) or NULL.
-- N6: '~'/blank = null, sentinel dates = null, diagnoses without dot and upper case, service date =
-- CLM_LINE_FROM_DT. Quarantine reasons (data-contracts "Bad input"; the readers add wrong_record_length,
-- invalid_encoding, invalid_characters and wrong_field_count for rows they cannot split):
-- missing_key:<field>, unparseable_date:<field>, non_numeric_amount:<field>, impossible_date_order,
-- unknown_code_system.
-- staging.stage_select adds raw_record: raw_row's text, for a quarantined row only
    SELECT
        source_row::BIGINT AS source_row,
        coalesce(cclf_text(delivery_file), {{source_file}}) AS delivery_file,
        coalesce(cclf_date(delivery_date_text), {{delivery_date}}::DATE) AS delivery_date,
        {{layout}} AS layout,
        cclf_text(CUR_CLM_UNIQ_ID) AS claim_id,
        cclf_int(CUR_CLM_UNIQ_ID) AS claim_id_num,
        TRY_CAST(cclf_text(CLM_LINE_NUM) AS INTEGER) AS line_number,
        upper(cclf_text(BENE_MBI_ID)) AS source_bene_id,
        cclf_text(CLM_TYPE_CD) AS claim_type,
        cclf_date(CLM_FROM_DT) AS claim_from_date,
        cclf_date(CLM_THRU_DT) AS claim_thru_date,
        cclf_text(RNDRG_PRVDR_TYPE_CD) AS provider_type,
        cclf_text(RNDRG_PRVDR_FIPS_ST_CD) AS provider_state,
        lpad(cclf_text(CLM_PRVDR_SPCLTY_CD), 2, '0') AS specialty,
        cclf_text(CLM_FED_TYPE_SRVC_CD) AS type_of_service,
        lpad(cclf_text(CLM_POS_CD), 2, '0') AS place_of_service,
        cclf_date(CLM_LINE_FROM_DT) AS service_date,
        cclf_date(CLM_LINE_THRU_DT) AS service_thru_date,
        upper(cclf_text(CLM_LINE_HCPCS_CD)) AS hcpcs,
        cclf_amount(CLM_LINE_CVRD_PD_AMT) AS paid_amount,
        dx_code(CLM_LINE_DGNS_CD) AS line_dx,
        cclf_text(CLM_RNDRG_PRVDR_TAX_NUM) AS tin,
        cclf_text(RNDRG_PRVDR_NPI_NUM) AS npi,
        cclf_text(CLM_CARR_PMT_DNL_CD) AS denial_code,
        upper(cclf_text(CLM_PRCSG_IND_CD)) AS processing_indicator,
        coalesce(TRY_CAST(cclf_text(CLM_ADJSMT_TYPE_CD) AS INTEGER), 0) AS adjustment_type,
        cclf_date(CLM_EFCTV_DT) AS effective_date,
        cclf_text(CLM_CNTL_NUM) AS claim_control_number,
        cclf_amount(CLM_LINE_ALOWD_CHRG_AMT) AS allowed_amount,
        TRY_CAST(cclf_text(CLM_LINE_SRVC_UNIT_QTY) AS DOUBLE) AS units,
        list_filter([dx_code(CLM_DGNS_1_CD), dx_code(CLM_DGNS_2_CD), dx_code(CLM_DGNS_3_CD),
                     dx_code(CLM_DGNS_4_CD), dx_code(CLM_DGNS_5_CD), dx_code(CLM_DGNS_6_CD),
                     dx_code(CLM_DGNS_7_CD), dx_code(CLM_DGNS_8_CD), dx_code(CLM_DGNS_9_CD),
                     dx_code(CLM_DGNS_10_CD), dx_code(CLM_DGNS_11_CD), dx_code(CLM_DGNS_12_CD)],
                    lambda d: d IS NOT NULL) AS claim_dx,
        upper(cclf_text(HCPCS_BETOS_CD)) AS betos,
        upper(cclf_text(FINAL_ACTION)) AS final_action,
        left(regexp_replace(cclf_text(PRVDR_ZIP), '[^0-9]', '', 'g'), 5) AS provider_zip,
        CASE
            WHEN cclf_text(CUR_CLM_UNIQ_ID) IS NULL THEN 'missing_key:claim_id'
            WHEN TRY_CAST(cclf_text(CLM_LINE_NUM) AS INTEGER) IS NULL THEN 'missing_key:line_number'
            WHEN cclf_text(BENE_MBI_ID) IS NULL THEN 'missing_key:bene_id'
            WHEN cclf_text(CLM_CNTL_NUM) IS NULL THEN 'missing_key:claim_control_number'
            WHEN cclf_date_is_bad(CLM_LINE_FROM_DT) THEN 'unparseable_date:service_date'
            WHEN cclf_date(CLM_LINE_FROM_DT) IS NULL THEN 'missing_key:service_date'
            WHEN cclf_date_is_bad(CLM_LINE_THRU_DT) THEN 'unparseable_date:service_thru_date'
            WHEN cclf_date_is_bad(CLM_FROM_DT) THEN 'unparseable_date:claim_from_date'
            WHEN cclf_date_is_bad(CLM_THRU_DT) THEN 'unparseable_date:claim_thru_date'
            WHEN cclf_date_is_bad(CLM_EFCTV_DT) THEN 'unparseable_date:effective_date'
            WHEN cclf_amount_is_bad(CLM_LINE_ALOWD_CHRG_AMT) THEN 'non_numeric_amount:allowed_amount'
            WHEN cclf_amount_is_bad(CLM_LINE_CVRD_PD_AMT) THEN 'non_numeric_amount:paid_amount'
            WHEN cclf_date(CLM_LINE_THRU_DT) < cclf_date(CLM_LINE_FROM_DT) THEN 'impossible_date_order'
            WHEN coalesce(cclf_text(DGNS_PRCDR_ICD_IND), '0') NOT IN ('0', '9') THEN 'unknown_code_system'
            -- two short IN lists, not one of six: DuckDB turns an IN list of six or more into a join (issue 20)
            WHEN cclf_text(CLM_ADJSMT_TYPE_CD) IS NOT NULL
                 AND cclf_text(CLM_ADJSMT_TYPE_CD) NOT IN ('0', '1', '2')
                 AND cclf_text(CLM_ADJSMT_TYPE_CD) NOT IN ('00', '01', '02') THEN 'unknown_code:adjustment_type'
        END AS quarantine_reason,
        raw AS raw_row  -- the row as read, carried along by reference (no copy)
    FROM ({{raw}}) AS raw
