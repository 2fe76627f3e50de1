-- E3, E5, E6, X1, X2: the episodes table.
-- E3 start = trigger date; end from 23 (365 days inclusive, cut at death).
-- E5 performance_year = year(end_date); status 'open' when end_date is after the data's last service
--    date (max service_date in partb_lines), else 'closed'. Every episode is kept whatever its PY;
--    `scorable` marks closed, non-excluded, non-quarantined episodes of the run's PY.
-- E6 trigger and confirming line keys (claim id, claim control number, line number, TIN, NPI).
-- X1 [DEFAULT] (only when demographics are supplied): age < episodes.min_age_years on the trigger date
--    -> excluded; death before the trigger date -> quarantined ('X1: death before trigger').
-- X2 [DEFAULT]: beneficiary absent from the demographics -> kept, demographics_missing = true.
--    Without demographics the X columns are NULL.
SELECT c.cohort || '-' || left(md5(c.bene_id || '|' || c.cohort || '|' || CAST(c.trigger_date AS VARCHAR)), 16) AS episode_id,
       c.cohort,
       c.bene_id,
       c.episode_seq,
       c.trigger_date,
       c.confirming_date,
       c.trigger_date AS start_date,
       c.end_date,
       year(c.end_date) AS performance_year,
       CASE WHEN c.end_date > {{last_service_date}} THEN 'open' ELSE 'closed' END AS status,
       c.trigger_tin, c.trigger_npi, c.trigger_claim_id, c.trigger_claim_control_number, c.trigger_line_number,
       c.confirming_tin, c.confirming_npi, c.confirming_claim_id, c.confirming_claim_control_number,
       c.confirming_line_number,
       c.death_date,
       c.end_date < c.full_end_date AS truncated_at_death,
       CASE WHEN {{demographics_supplied}} THEN date_sub('year', b.birth_date, c.trigger_date) END AS age_at_trigger,
       CASE WHEN {{demographics_supplied}} THEN b.bene_id IS NULL END AS demographics_missing,
       coalesce({{demographics_supplied}} AND date_sub('year', b.birth_date, c.trigger_date) < {{min_age_years}}, false) AS excluded,
       CASE WHEN {{demographics_supplied}} AND date_sub('year', b.birth_date, c.trigger_date) < {{min_age_years}}
            THEN 'X1: age under ' || {{min_age_years}} || ' on the trigger date' END AS exclusion_reason,
       coalesce({{demographics_supplied}} AND b.death_date < c.trigger_date, false) AS quarantined,
       CASE WHEN {{demographics_supplied}} AND b.death_date < c.trigger_date
            THEN 'X1: death before trigger date (inconsistent beneficiary data)' END AS quarantine_reason,
       (c.end_date <= {{last_service_date}}
        AND year(c.end_date) = {{performance_year}}
        AND NOT coalesce({{demographics_supplied}} AND date_sub('year', b.birth_date, c.trigger_date) < {{min_age_years}}, false)
        AND NOT coalesce({{demographics_supplied}} AND b.death_date < c.trigger_date, false)) AS scorable
FROM episode_chain AS c
LEFT JOIN bene_src AS b ON b.bene_id = c.bene_id
