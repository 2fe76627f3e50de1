-- Ingest, stage: CCLF8 beneficiary demographics (as text) -> typed. Names and addresses are never
-- read (ingest=no in the layout); only what X1, R1 and S4 need is kept.
-- staging.stage_select adds raw_record: raw_row's text, for a quarantined row only
    SELECT source_row::BIGINT AS source_row,
           coalesce(cclf_text(delivery_file), {{source_file}}) AS delivery_file,
           coalesce(cclf_date(delivery_date_text), {{delivery_date}}::DATE) AS delivery_date,
           upper(cclf_text(BENE_MBI_ID)) AS source_bene_id,
           cclf_text(BENE_FIPS_STATE_CD) AS fips_state,
           cclf_text(BENE_FIPS_CNTY_CD) AS fips_county,
           cclf_date(BENE_DOB) AS birth_date,
           cclf_text(BENE_SEX_CD) AS sex,
           cclf_text(BENE_MDCR_STUS_CD) AS medicare_status,
           cclf_text(BENE_DUAL_STUS_CD) AS dual_status,
           cclf_date(BENE_DEATH_DT) AS death_date,
           cclf_text(BENE_ORGNL_ENTLMT_RSN_CD) AS original_entitlement_reason,
           CASE
               -- only the fields read are checked (a CSV CCLF8 is decoded as Latin-1; names may hold any byte)
               WHEN regexp_matches(concat_ws('', BENE_MBI_ID, BENE_FIPS_STATE_CD, BENE_FIPS_CNTY_CD, BENE_DOB, BENE_SEX_CD,
                                             BENE_MDCR_STUS_CD, BENE_DUAL_STUS_CD, BENE_DEATH_DT,
                                             BENE_ORGNL_ENTLMT_RSN_CD), '[^ -~]') THEN 'invalid_encoding'
               WHEN cclf_text(BENE_MBI_ID) IS NULL THEN 'missing_key:bene_id'
               WHEN cclf_date_is_bad(BENE_DOB) THEN 'unparseable_date:birth_date'
               WHEN cclf_date_is_bad(BENE_DEATH_DT) THEN 'unparseable_date:death_date'
               WHEN cclf_date(BENE_DEATH_DT) < cclf_date(BENE_DOB) THEN 'impossible_date_order'
           END AS quarantine_reason,
           raw AS raw_row  -- the row as read, carried along by reference (no copy)
    FROM ({{raw}}) AS raw
