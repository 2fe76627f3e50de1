-- Ingest, rule N4 applied to Part A headers (CCLF1) [DEFAULT: the packet nets institutional claims by
-- CLM_CNTL_NUM as it nets Part B lines]: one row per (CLM_CNTL_NUM, current beneficiary id).
-- Cancels (type 1) count negative; type 2 is a new version; the claim survives while its
-- originals/adjustments outnumber its cancels; attributes come from the latest original/adjustment
-- (latest CLM_EFCTV_DT, then highest CUR_CLM_UNIQ_ID). C2: Part A cost uses CLM_PMT_AMT.
WITH versions AS (
    SELECT *, CASE WHEN adjustment_type = 1 THEN -1 ELSE 1 END AS sign
    FROM parta_versions WHERE rule IS NULL
)
SELECT claim_control_number, bene_id,
       sum(sign * coalesce(payment_amount, 0)) AS net_payment,
       count(*) FILTER (WHERE sign = 1) AS versions,
       count(*) FILTER (WHERE sign = -1) AS cancels,
       count(*) FILTER (WHERE sign = 1) > count(*) FILTER (WHERE sign = -1) AS survives,
       arg_max(version_key, (coalesce(effective_date, DATE '0001-01-01'), coalesce(claim_id_num, -1), version_key))
           FILTER (WHERE sign = 1) AS attribute_version_key
FROM versions
GROUP BY claim_control_number, bene_id
