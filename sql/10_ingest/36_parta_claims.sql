-- Ingest, output parta_claims: the surviving netted Part A claims (N4, see 27_parta_netting.sql)
-- with the attributes of their latest original/adjustment version and N1 beneficiary id.
SELECT g.claim_control_number, v.claim_id, g.bene_id, v.claim_type, v.from_date, v.thru_date,
       v.bill_facility_type, v.bill_classification, v.principal_dx, v.admitting_dx, v.drg,
       v.discharge_status, v.admission_type, v.facility_npi, g.net_payment AS payment_amount,
       g.versions, g.cancels, v.delivery_file AS source_file, v.source_row
FROM parta_netting AS g
JOIN parta_versions AS v ON v.version_key = g.attribute_version_key
WHERE g.survives
