-- C1, C3, E6: Part B lines assigned to an episode: every surviving line of the beneficiary with
-- service date inside [start_date, end_date] whose line or claim diagnosis is a cohort diagnosis or
-- whose HCPCS is on the cohort's condition-related list (flags from 21). Any claim type counts.
-- C3 service category [DEFAULT]: first letter of HCPCS_BETOS_CD (costs.betos_category); without BETOS,
-- the HCPCS range table service_categories.csv (lowest priority number wins); else 'other'.
WITH assigned AS (
    SELECT e.episode_id, e.start_date, l.*
    FROM cohort_lines AS l
    JOIN episodes AS e
      ON e.bene_id = l.bene_id AND e.cohort = l.cohort AND l.service_date BETWEEN e.start_date AND e.end_date
),
range_category AS (
    -- the HCPCS range category of each (HCPCS, service date) of the cohort lines: it depends on nothing
    -- else, so it is looked up once per pair, not once per assigned line (used only without a BETOS category)
    SELECT d.hcpcs, d.service_date, r.service_category
    FROM (SELECT DISTINCT hcpcs, service_date FROM cohort_lines) AS d
    JOIN service_categories AS r
      ON d.hcpcs BETWEEN r.hcpcs_from AND r.hcpcs_to AND length(d.hcpcs) = length(r.hcpcs_from)
     AND d.service_date BETWEEN r.valid_from AND r.valid_to
    QUALIFY row_number() OVER (PARTITION BY d.hcpcs, d.service_date ORDER BY r.priority, r.hcpcs_from) = 1
)
SELECT a.episode_id, a.cohort, 'partb' AS source, a.claim_control_number, a.line_number, a.claim_id, a.bene_id,
       a.service_date, a.service_date - a.start_date AS episode_day, a.claim_type, a.hcpcs, a.betos,
       a.place_of_service, a.tin, a.npi,
       coalesce(b.service_category, r.service_category, 'other') AS service_category,
       a.service_group, a.has_cohort_dx, a.is_condition_service, a.is_qualifying,
       CAST(a.allowed_amount AS DECIMAL(38, 2)) AS allowed_amount,
       CAST(a.paid_amount AS DECIMAL(38, 2)) AS paid_amount,
       CAST(a.cost_amount AS DECIMAL(38, 2)) AS cost_amount,
       CAST(NULL AS VARCHAR) AS drg,
       CAST(NULL AS VARCHAR) AS after_stay_claim_control_number,
       a.line_rowid
FROM assigned AS a
LEFT JOIN betos_categories AS b ON b.letter = left(a.betos, 1)
LEFT JOIN range_category AS r ON r.hcpcs = a.hcpcs AND r.service_date = a.service_date
