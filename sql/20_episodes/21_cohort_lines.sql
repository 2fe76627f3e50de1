-- E1, C1, L: every surviving Part B line that touches a cohort, one row per (line, cohort):
--   has_cohort_dx        the line diagnosis or any claim diagnosis 1-12 is on the cohort's diagnosis
--                        list, valid on the line's service date (E1, C1);
--   is_condition_service the HCPCS is on the cohort's condition-related service list (C1);
--   is_qualifying        E1: claim type in episodes.qualifying_claim_types (71), HCPCS on the cohort's
--                        trigger E&M list, place of service allowed, net allowed > 0, cohort diagnosis.
-- Lines touching no cohort are dropped here; this table feeds E2 (pairs), A1 (shares) and C1 (costs).
WITH dx_hits AS (
    -- one row per (line, diagnosis); a hash join on the small code list (faster than list functions)
    SELECT DISTINCT u.line_rowid, c.cohort
    FROM (SELECT line_rowid, service_date, unnest(list_append(coalesce(claim_dx, []), line_dx)) AS dx
          FROM partb_src) AS u
    JOIN code_lists AS c
      ON c.list_name = 'diagnosis' AND c.code = u.dx AND u.service_date BETWEEN c.valid_from AND c.valid_to
),
svc_hits AS (
    SELECT p.line_rowid, c.cohort, min(c.service_group) AS service_group
    FROM partb_src AS p
    JOIN code_lists AS c
      ON c.list_name = 'condition_service' AND c.code = p.hcpcs AND p.service_date BETWEEN c.valid_from AND c.valid_to
    GROUP BY p.line_rowid, c.cohort
),
hits AS (
    SELECT coalesce(d.line_rowid, s.line_rowid) AS line_rowid,
           coalesce(d.cohort, s.cohort) AS cohort,
           d.line_rowid IS NOT NULL AS has_cohort_dx,
           s.line_rowid IS NOT NULL AS is_condition_service,
           s.service_group
    FROM dx_hits AS d
    FULL JOIN svc_hits AS s ON s.line_rowid = d.line_rowid AND s.cohort = d.cohort
)
SELECT h.line_rowid, h.cohort, p.bene_id, p.service_date, p.claim_control_number, p.line_number, p.claim_id,
       p.claim_type, p.hcpcs, p.betos, p.place_of_service, p.tin, p.npi, p.allowed_amount, p.paid_amount,
       p.cost_amount, h.has_cohort_dx, h.is_condition_service, h.service_group,
       (h.has_cohort_dx
        AND list_contains({{qualifying_claim_types}}, p.claim_type)
        AND p.allowed_amount > 0
        AND EXISTS (SELECT 1 FROM code_lists AS t
                    WHERE t.list_name = 'trigger_service' AND t.cohort = h.cohort AND t.code = p.hcpcs
                      AND p.service_date BETWEEN t.valid_from AND t.valid_to)
        AND EXISTS (SELECT 1 FROM code_lists AS s
                    WHERE s.list_name = 'place_of_service' AND s.cohort = h.cohort AND s.code = p.place_of_service
                      AND p.service_date BETWEEN s.valid_from AND s.valid_to)) IS TRUE AS is_qualifying
FROM hits AS h
JOIN partb_src AS p ON p.line_rowid = h.line_rowid
