-- Ingest, output parta_diagnoses (CCLF4): the newest delivery of each diagnosis row (N2), current
-- beneficiary id (N1); see 28_parta_diagnosis_versions. Join to parta_claims on claim_id.
SELECT * EXCLUDE (is_redelivery) FROM parta_diagnosis_versions WHERE NOT is_redelivery
