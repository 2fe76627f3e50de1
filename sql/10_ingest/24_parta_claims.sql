-- Ingest, output parta_claims: N4 netting applied to Part A headers [DEFAULT: the packet nets
-- institutional claims by CLM_CNTL_NUM as it nets Part B lines]: versions grouped by
-- (CLM_CNTL_NUM, current beneficiary id); cancels (type 1) count negative; the claim survives while
-- originals/adjustments outnumber cancels; attributes from the latest original/adjustment
-- (latest CLM_EFCTV_DT, then highest CUR_CLM_UNIQ_ID). C2: Part A cost uses CLM_PMT_AMT.
WITH versions AS (
    SELECT *, CASE WHEN adjustment_type = 1 THEN -1 ELSE 1 END AS sign
    FROM parta_versions WHERE rule IS NULL
),
groups AS (
    SELECT claim_control_number, bene_id,
           sum(sign * coalesce(payment_amount, 0)) AS net_payment,
           count(*) FILTER (WHERE sign = 1) AS versions,
           count(*) FILTER (WHERE sign = -1) AS cancels,
           arg_max(version_key, (coalesce(effective_date, DATE '0001-01-01'), coalesce(claim_id_num, -1), version_key))
               FILTER (WHERE sign = 1) AS attribute_version_key
    FROM versions
    GROUP BY claim_control_number, bene_id
)
SELECT g.claim_control_number, v.claim_id, g.bene_id, v.claim_type, v.from_date, v.thru_date,
       v.bill_facility_type, v.bill_classification, v.principal_dx, v.admitting_dx, v.drg,
       v.discharge_status, v.admission_type, v.facility_npi, g.net_payment AS payment_amount,
       g.versions, g.cancels, v.delivery_file AS source_file, v.source_row
FROM groups AS g
JOIN versions AS v ON v.version_key = g.attribute_version_key
WHERE g.versions > g.cancels
