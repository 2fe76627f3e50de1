-- Ingest, rule N4 (netting) and N5 (cost amount) -> one row per netting group.
-- N4: versions of a line are grouped by (CLM_CNTL_NUM, current beneficiary id, CLM_LINE_NUM).
--     Cancel versions (CLM_ADJSMT_TYPE_CD = 1) count negative; net amounts are signed sums. Type 2
--     (adjustment) is a new version like an original. The line survives while its original/adjustment
--     versions outnumber its cancels. Attributes come from the latest original/adjustment version
--     (latest CLM_EFCTV_DT, then highest CUR_CLM_UNIQ_ID); cancels never supply attributes.
-- N5: cost amount = net allowed x standardization factor (by provider state; default from the
--     methodology config, 1.0 = "allowed, not standardized"). Paid amount = net covered paid amount.
WITH versions AS (
    SELECT *, CASE WHEN adjustment_type = 1 THEN -1 ELSE 1 END AS sign
    FROM partb_versions
    WHERE rule IS NULL
),
groups AS (
    SELECT claim_control_number, bene_id, line_number,
           sum(sign * coalesce(allowed_amount, 0)) AS net_allowed,
           sum(sign * coalesce(paid_amount, 0)) AS net_paid,
           count(*) FILTER (WHERE sign = 1) AS versions,
           count(*) FILTER (WHERE sign = -1) AS cancels,
           arg_max(version_key, (coalesce(effective_date, DATE '0001-01-01'), coalesce(claim_id_num, -1), version_key))
               FILTER (WHERE sign = 1) AS attribute_version_key
    FROM versions
    GROUP BY claim_control_number, bene_id, line_number
)
SELECT g.claim_control_number, g.line_number, g.bene_id, g.versions, g.cancels,
       g.versions > g.cancels AS survives,
       g.net_allowed, g.net_paid, g.attribute_version_key
FROM groups AS g
