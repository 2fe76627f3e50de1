-- E3, E4: for every candidate trigger (22), the episode it would start (start = trigger date,
-- end = start + episode_days - 1, cut at the death date when the death falls inside; a death before
-- the trigger does not cut: X1 quarantines that episode instead) and the next candidate that could
-- follow it: the first candidate of the same beneficiary and cohort whose trigger date is after
-- that end (ASOF join). Following these links from each beneficiary's first candidate (24) yields
-- non-overlapping episodes without looking at any candidate twice.
WITH cand AS (
    SELECT c.*,
           b.death_date,
           c.trigger_date + ({{episode_days}} - 1) AS full_end_date,
           CASE WHEN b.death_date >= c.trigger_date AND b.death_date < c.trigger_date + ({{episode_days}} - 1)
                THEN b.death_date ELSE c.trigger_date + ({{episode_days}} - 1) END AS end_date
    FROM trigger_candidates AS c
    LEFT JOIN bene_src AS b ON b.bene_id = c.bene_id
)
SELECT c.*,
       n.trigger_date AS next_trigger_date,
       row_number() OVER (PARTITION BY c.bene_id, c.cohort ORDER BY c.trigger_date) = 1 AS is_first
FROM cand AS c
ASOF LEFT JOIN cand AS n
  ON c.bene_id = n.bene_id AND c.cohort = n.cohort AND c.end_date < n.trigger_date
