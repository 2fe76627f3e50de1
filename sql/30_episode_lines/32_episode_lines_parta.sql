-- C1, C2, C3: Part A claims assigned to an episode (only when CCLF1 is supplied; else no rows).
--   Institutional claims (costs.institutional_claim_types: 60 inpatient, 40 outpatient -> 'other')
--   starting inside [start_date, end_date] whose principal diagnosis is a cohort diagnosis or whose
--   MS-DRG is on the cohort's DRG list (both valid on the claim's from date);
--   post-acute claims (costs.post_acute_claim_types: SNF 20/30, home health 10) starting 0 to
--   costs.post_acute_days days after the discharge (thru date) of such an inpatient stay, category
--   'post_acute' (counted once per episode even when they follow two stays) [DEFAULT: they need not
--   start inside the window].
-- C2: Part A cost is CLM_PMT_AMT (payment_amount); line_number 0 marks a claim header.
WITH stays AS (
    SELECT e.episode_id, e.cohort, e.start_date, a.*, t.service_category,
           (SELECT min(g.service_group) FROM code_lists AS g
             WHERE g.list_name = 'drg' AND g.cohort = e.cohort AND g.code = a.drg
               AND a.from_date BETWEEN g.valid_from AND g.valid_to) AS service_group
    FROM parta_src AS a
    JOIN institutional_types AS t ON t.claim_type = a.claim_type
    JOIN episodes AS e
      ON e.bene_id = a.bene_id AND a.from_date BETWEEN e.start_date AND e.end_date
    WHERE EXISTS (SELECT 1 FROM code_lists AS d
                   WHERE d.list_name = 'diagnosis' AND d.cohort = e.cohort AND d.code = a.principal_dx
                     AND a.from_date BETWEEN d.valid_from AND d.valid_to)
       OR EXISTS (SELECT 1 FROM code_lists AS g
                   WHERE g.list_name = 'drg' AND g.cohort = e.cohort AND g.code = a.drg
                     AND a.from_date BETWEEN g.valid_from AND g.valid_to)
),
post_acute AS (
    SELECT s.episode_id, s.cohort, s.start_date, a.*, 'post_acute' AS service_category,
           CAST(NULL AS VARCHAR) AS service_group,
           s.claim_control_number AS after_stay_claim_control_number
    FROM stays AS s
    JOIN parta_src AS a
      ON a.bene_id = s.bene_id AND a.from_date BETWEEN s.thru_date AND s.thru_date + {{post_acute_days}}
    WHERE s.service_category = 'inpatient' AND list_contains({{post_acute_claim_types}}, a.claim_type)
    -- the stay it follows: the first to end; two ending the same day -> the lower claim control number
    -- (a total order, so the same claim always names the same stay whatever order the rows are read in)
    QUALIFY row_number() OVER (PARTITION BY s.episode_id, a.claim_control_number
                               ORDER BY s.thru_date, s.claim_control_number) = 1
),
claims AS (
    SELECT *, CAST(NULL AS VARCHAR) AS after_stay_claim_control_number FROM stays
    UNION ALL BY NAME
    SELECT * FROM post_acute
)
SELECT episode_id, cohort, 'parta' AS source, claim_control_number, 0 AS line_number, claim_id, bene_id,
       from_date AS service_date, from_date - start_date AS episode_day, claim_type,
       CAST(NULL AS VARCHAR) AS hcpcs, CAST(NULL AS VARCHAR) AS betos, CAST(NULL AS VARCHAR) AS place_of_service,
       CAST(NULL AS VARCHAR) AS tin, facility_npi AS npi, service_category, service_group,
       CAST(NULL AS BOOLEAN) AS has_cohort_dx, CAST(NULL AS BOOLEAN) AS is_condition_service,
       false AS is_qualifying,
       CAST(NULL AS DECIMAL(38, 2)) AS allowed_amount,
       CAST(payment_amount AS DECIMAL(38, 2)) AS paid_amount,
       CAST(payment_amount AS DECIMAL(38, 2)) AS cost_amount,
       drg, after_stay_claim_control_number,
       CAST(NULL AS BIGINT) AS line_rowid
FROM claims
