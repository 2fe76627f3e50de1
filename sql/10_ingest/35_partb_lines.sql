-- Ingest, output partb_lines: the surviving netted lines (N4) with attributes of their latest
-- original/adjustment version, N1 beneficiary id, N5 amounts and N6 fields.
-- N5 one home of the cost basis label: 'standardized allowed amount' when the line's provider state has a
--    factor in standardization_factors.csv, else 'allowed, not standardized' (default factor 1.0).
SELECT n.claim_control_number,
       n.line_number,
       v.claim_id,
       n.bene_id,
       v.service_date,
       v.service_thru_date,
       v.claim_type,
       v.hcpcs,
       v.betos,
       v.place_of_service,
       v.type_of_service,
       v.line_dx,
       v.claim_dx,
       v.tin,
       v.npi,
       v.specialty,
       v.provider_zip,
       v.provider_state,
       v.units,
       n.net_allowed AS allowed_amount,
       n.net_paid AS paid_amount,
       CAST(round(n.net_allowed * coalesce(f.factor, {{default_factor}}), 2) AS DECIMAL(18, 2)) AS cost_amount,
       coalesce(f.factor, {{default_factor}}) AS standardization_factor,
       CASE WHEN f.factor IS NOT NULL THEN 'standardized allowed amount'
            WHEN {{default_factor}} = 1 THEN 'allowed, not standardized'
            ELSE 'allowed x configured default factor' END AS cost_basis,
       n.versions,
       n.cancels,
       v.delivery_file AS source_file,
       v.source_row,
       v.layout AS source_layout
FROM partb_netting AS n
-- the attribute version, straight from the staged rows (version_key = source_file_id << 40 | source_row)
JOIN stage_partb AS v
  ON v.source_file_id = (n.attribute_version_key >> 40)
 AND v.source_row = (n.attribute_version_key & ((1::BIGINT << 40) - 1))
LEFT JOIN standardization_factors AS f ON f.provider_state = v.provider_state
WHERE n.survives
