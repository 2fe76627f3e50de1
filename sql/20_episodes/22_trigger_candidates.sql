-- E2: trigger/confirming pairs. Qualifying lines (E1) of one beneficiary and cohort billed by the same
-- participant (episodes.pair_scope 'npi': same TIN and NPI; 'tin': same TIN) collapse to visit days.
-- The earliest confirming line of a visit day is on the participant's next visit day (a later day,
-- so 1 <= days always; a same-day second visit never confirms); the pair counts when
-- next day - trigger day <= the cohort's window (episodes.confirming_window_days: HF 180, LBP 60).
-- Lines without a TIN (or NPI, under 'npi') cannot form a pair. A missing NPI sorts first in ties.
-- Ties [DEFAULT]: within a visit day, the line with the lowest (NPI, claim control number, line number)
-- represents it; among pairs with the same trigger day: episodes.trigger_tie_break (earliest confirming
-- day, then lowest TIN, NPI, claim control number, line number). One candidate per (beneficiary, cohort,
-- trigger day).
WITH days AS (
    SELECT bene_id, cohort, tin,
           CASE WHEN {{pair_scope}} = 'tin' THEN '' ELSE npi END AS pair_npi,
           service_date,
           -- the struct's fields in tie-break order, so its minimum is the day's first line
           min({'npi_order': coalesce(npi, ''), 'claim_control_number': claim_control_number,
                'line_number': line_number, 'claim_id': claim_id, 'npi': npi}) AS first_line
    FROM cohort_lines
    WHERE is_qualifying AND tin IS NOT NULL AND (npi IS NOT NULL OR {{pair_scope}} = 'tin')
    GROUP BY ALL
),
pairs AS (
    SELECT d.*,
           lead(service_date) OVER w AS confirming_date,
           lead(first_line) OVER w AS confirming_line
    FROM days AS d
    WINDOW w AS (PARTITION BY bene_id, cohort, tin, pair_npi ORDER BY service_date)
)
SELECT p.bene_id, p.cohort,
       p.service_date AS trigger_date,
       p.confirming_date,
       p.tin AS trigger_tin,
       p.first_line.npi AS trigger_npi,
       p.first_line.claim_id AS trigger_claim_id,
       p.first_line.claim_control_number AS trigger_claim_control_number,
       p.first_line.line_number AS trigger_line_number,
       p.tin AS confirming_tin,
       p.confirming_line.npi AS confirming_npi,
       p.confirming_line.claim_id AS confirming_claim_id,
       p.confirming_line.claim_control_number AS confirming_claim_control_number,
       p.confirming_line.line_number AS confirming_line_number
FROM pairs AS p
JOIN cohort_params AS c ON c.cohort = p.cohort
WHERE p.confirming_date - p.service_date BETWEEN 1 AND c.confirming_window_days
QUALIFY row_number() OVER (PARTITION BY p.bene_id, p.cohort, p.service_date
                           ORDER BY {{trigger_tie_break}}) = 1
