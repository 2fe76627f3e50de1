-- E1, C1, L: every surviving Part B line that touches a cohort, one row per (line, cohort):
--   has_cohort_dx        the line diagnosis or any claim diagnosis 1-12 is on the cohort's diagnosis
--                        list, valid on the line's service date (E1, C1);
--   is_condition_service the HCPCS is on the cohort's condition-related service list (C1);
--   is_qualifying        E1: claim type in episodes.qualifying_claim_types (71), HCPCS on the cohort's
--                        trigger E&M list, place of service allowed, net allowed > 0, cohort diagnosis.
-- Lines touching no cohort are dropped here; this table feeds E2 (pairs), A1 (shares) and C1 (costs).
-- So are the lines of a (beneficiary, cohort) without any qualifying line: E2 pairs only qualifying
-- lines, A1 counts only qualifying lines and C1 assigns only lines inside an episode of the same
-- beneficiary and cohort, whose trigger is a qualifying line; such lines could never be used.
-- Performance (issues 4, 20): partb_lines is read once with all line columns (plus one narrow read of
-- the diagnoses and E1 columns); every other input is a small code-list table. L validity intervals
-- are first cut into disjoint date segments per (list, cohort, code), so each code-list lookup below is
-- an equality hash join matching at most one segment (no correlated sub-queries). A line's diagnoses
-- are unnested once (the line dx only when no claim dx repeats it); the qualifying pairs come from
-- those diagnosis hits directly (no join back to the per-line masks).
WITH bounds AS (
    -- L: every date on which a code's validity can change (interval starts and the day after ends)
    SELECT list_name, cohort, code, valid_from AS d FROM code_lists
    UNION
    SELECT list_name, cohort, code, valid_to + 1 FROM code_lists
),
code_segments AS (
    -- L: [seg_from, seg_to] lies inside or outside each validity interval of the code as a whole;
    -- service_group: the lowest over the intervals covering the segment (C1 service group)
    SELECT s.list_name, s.cohort, s.code, s.seg_from, s.seg_to, min(c.service_group) AS service_group
    FROM (SELECT list_name, cohort, code, d AS seg_from,
                 lead(d) OVER (PARTITION BY list_name, cohort, code ORDER BY d) - 1 AS seg_to
          FROM bounds) AS s
    JOIN code_lists AS c
      ON c.list_name = s.list_name AND c.cohort = s.cohort AND c.code = s.code
     AND c.valid_from <= s.seg_from AND c.valid_to >= s.seg_to
    GROUP BY ALL
),
cohorts AS (
    -- the cohorts a line can touch, each with a bit for the per-line diagnosis mask below (<= 64 cohorts)
    SELECT cohort, CAST(1 AS UBIGINT) << CAST(row_number() OVER (ORDER BY cohort) - 1 AS INTEGER) AS bit
    FROM (SELECT DISTINCT cohort FROM code_lists WHERE list_name IN ('diagnosis', 'condition_service'))
),
dx_hits AS (
    -- E1, C1: per line, each cohort diagnosis among claim dx 1-12 and the line dx (several codes of
    -- one cohort give several rows), with the line's E1 columns
    SELECT u.line_rowid, u.bene_id, u.service_date, u.claim_type, u.hcpcs, u.place_of_service, u.allowed_amount,
           k.cohort, k.bit
    FROM (SELECT line_rowid, bene_id, service_date, claim_type, hcpcs, place_of_service, allowed_amount,
                 unnest(CASE WHEN line_dx IS NULL OR list_contains(claim_dx, line_dx) THEN claim_dx
                             ELSE list_append(claim_dx, line_dx) END) AS dx
          FROM partb_src) AS u
    JOIN code_segments AS c
      ON c.list_name = 'diagnosis' AND c.code = u.dx AND u.service_date BETWEEN c.seg_from AND c.seg_to
    JOIN cohorts AS k ON k.cohort = c.cohort
),
dx_lines AS (
    -- E1, C1: per line, the cohorts (bit mask) with a cohort diagnosis
    SELECT line_rowid, bit_or(bit) AS dx_mask FROM dx_hits GROUP BY line_rowid
),
qualifying_pairs AS (
    -- E1: the (beneficiary, cohort) pairs with at least one qualifying line (same test as is_qualifying)
    SELECT DISTINCT d.bene_id, d.cohort
    FROM dx_hits AS d
    JOIN code_segments AS t
      ON t.list_name = 'trigger_service' AND t.cohort = d.cohort AND t.code = d.hcpcs
     AND d.service_date BETWEEN t.seg_from AND t.seg_to
    JOIN code_segments AS o
      ON o.list_name = 'place_of_service' AND o.cohort = d.cohort AND o.code = d.place_of_service
     AND d.service_date BETWEEN o.seg_from AND o.seg_to
    WHERE list_contains({{qualifying_claim_types}}, d.claim_type) AND d.allowed_amount > 0
),
touching AS (
    -- lines with a cohort diagnosis or a condition-related HCPCS of any cohort (any date; exact below)
    SELECT p.*, coalesce(d.dx_mask, 0) AS dx_mask
    FROM partb_src AS p
    LEFT JOIN dx_lines AS d ON d.line_rowid = p.line_rowid
    WHERE d.line_rowid IS NOT NULL
       OR p.hcpcs IN (SELECT code FROM code_lists WHERE list_name = 'condition_service')
),
flagged AS (
    SELECT p.line_rowid, k.cohort, p.bene_id, p.service_date, p.claim_control_number, p.line_number, p.claim_id,
           p.claim_type, p.hcpcs, p.betos, p.place_of_service, p.tin, p.npi, p.allowed_amount, p.paid_amount,
           p.cost_amount,
           p.dx_mask & k.bit <> 0 AS has_cohort_dx,
           s.code IS NOT NULL AS is_condition_service,
           s.service_group,
           t.code IS NOT NULL AS is_trigger_service,
           o.code IS NOT NULL AS is_place_of_service
    FROM touching AS p
    JOIN qualifying_pairs AS q ON q.bene_id = p.bene_id
    JOIN cohorts AS k ON k.cohort = q.cohort
    LEFT JOIN code_segments AS s
      ON s.list_name = 'condition_service' AND s.cohort = k.cohort AND s.code = p.hcpcs
     AND p.service_date BETWEEN s.seg_from AND s.seg_to
    LEFT JOIN code_segments AS t
      ON t.list_name = 'trigger_service' AND t.cohort = k.cohort AND t.code = p.hcpcs
     AND p.service_date BETWEEN t.seg_from AND t.seg_to
    LEFT JOIN code_segments AS o
      ON o.list_name = 'place_of_service' AND o.cohort = k.cohort AND o.code = p.place_of_service
     AND p.service_date BETWEEN o.seg_from AND o.seg_to
)
SELECT line_rowid, cohort, bene_id, service_date, claim_control_number, line_number, claim_id,
       claim_type, hcpcs, betos, place_of_service, tin, npi, allowed_amount, paid_amount,
       cost_amount, has_cohort_dx, is_condition_service, service_group,
       (has_cohort_dx
        AND list_contains({{qualifying_claim_types}}, claim_type)
        AND allowed_amount > 0
        AND is_trigger_service
        AND is_place_of_service) IS TRUE AS is_qualifying
FROM flagged
WHERE has_cohort_dx OR is_condition_service
