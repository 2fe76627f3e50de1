-- E3, E5, E6, X1, X2: the episodes table.
-- E3 start = trigger date; end from 23 (365 days inclusive, cut at death).
-- E5 performance_year = year(end_date); status 'open' when end_date is after the data's last service
--    date (max service_date in partb_lines), else 'closed'. Every episode is kept whatever its PY.
-- One home of "counts for scoring": `counts_for_scoring` = closed, not excluded, not quarantined (any
--    PY); C4 winsorizing, R2 fitting and R4/R5 scoring read it. `scorable` = counts_for_scoring in the
--    run's PY.
-- E6 trigger and confirming line keys (claim id, claim control number, line number, TIN, NPI).
-- X1 [DEFAULT] (only when demographics are supplied): age < episodes.min_age_years on the trigger date
--    -> excluded; death before the trigger date -> quarantined ('X1: death before trigger').
-- X1/R1 one home of age: `age_at_trigger` = completed years on the trigger date (= the episode start,
--    E3): year difference, minus 1 while the birthday's month/day is not reached. A 29 February
--    birthday is reached on 1 March in non-leap years [DEFAULT]. X1 uses it here; R1's age bands read
--    this column (pipelines/engine/scoring/risk.py), never recompute it.
-- X2 [DEFAULT]: beneficiary absent from the demographics -> kept, demographics_missing = true.
--    Without demographics the X columns are NULL.
WITH aged AS (
    SELECT c.*,
           b.bene_id AS demographics_bene_id,
           b.death_date AS demographics_death_date,
           CASE WHEN {{demographics_supplied}} THEN
               year(c.trigger_date) - year(b.birth_date)
               - CASE WHEN month(c.trigger_date) * 100 + day(c.trigger_date)
                           < month(b.birth_date) * 100 + day(b.birth_date) THEN 1 ELSE 0 END
           END AS age_at_trigger
    FROM episode_chain AS c
    LEFT JOIN bene_src AS b ON b.bene_id = c.bene_id
),
flagged AS (
    SELECT c.*,
           coalesce(c.age_at_trigger < {{min_age_years}}, false) AS excluded,
           coalesce({{demographics_supplied}} AND c.demographics_death_date < c.trigger_date, false) AS quarantined,
           c.end_date > {{last_service_date}} AS is_open
    FROM aged AS c
)
SELECT f.cohort || '-' || left(md5(f.bene_id || '|' || f.cohort || '|' || CAST(f.trigger_date AS VARCHAR)), 16) AS episode_id,
       f.cohort,
       f.bene_id,
       f.episode_seq,
       f.trigger_date,
       f.confirming_date,
       f.trigger_date AS start_date,
       f.end_date,
       year(f.end_date) AS performance_year,
       CASE WHEN f.is_open THEN 'open' ELSE 'closed' END AS status,
       f.trigger_tin, f.trigger_npi, f.trigger_claim_id, f.trigger_claim_control_number, f.trigger_line_number,
       f.confirming_tin, f.confirming_npi, f.confirming_claim_id, f.confirming_claim_control_number,
       f.confirming_line_number,
       f.death_date,
       f.end_date < f.full_end_date AS truncated_at_death,
       f.age_at_trigger,
       CASE WHEN {{demographics_supplied}} THEN f.demographics_bene_id IS NULL END AS demographics_missing,
       f.excluded,
       CASE WHEN f.excluded THEN 'X1: age under ' || {{min_age_years}} || ' on the trigger date' END AS exclusion_reason,
       f.quarantined,
       CASE WHEN f.quarantined THEN 'X1: death before trigger date (inconsistent beneficiary data)' END AS quarantine_reason,
       NOT f.is_open AND NOT f.excluded AND NOT f.quarantined AS counts_for_scoring,
       NOT f.is_open AND NOT f.excluded AND NOT f.quarantined AND year(f.end_date) = {{performance_year}} AS scorable
FROM flagged AS f
