-- R1: every diagnosis of the episode's beneficiary on Part B lines (line and claim diagnoses) and
-- Part A claims (CCLF4) dated in the lookback window before the episode start
-- (start - lookback_days .. start - 1, inclusive). One row per episode with a sorted distinct list.
-- The episodes, partb_lines and parta_diagnoses placeholders are relations (parta_diagnoses is an empty
-- relation when the run has no Part A).
WITH eps AS (
    SELECT episode_id, bene_id, start_date FROM {{episodes}}
),
partb AS (
    SELECT e.episode_id, unnest(list_append(coalesce(l.claim_dx, []), l.line_dx)) AS dx
    FROM eps AS e
    JOIN {{partb_lines}} AS l
      ON l.bene_id = e.bene_id
     AND l.service_date BETWEEN e.start_date - {{lookback_days}} AND e.start_date - 1  -- DATE arithmetic (no TIMESTAMP casts)
),
parta AS (
    SELECT e.episode_id, d.dx
    FROM eps AS e
    JOIN {{parta_diagnoses}} AS d
      ON d.bene_id = e.bene_id
     AND d.from_date BETWEEN e.start_date - {{lookback_days}} AND e.start_date - 1  -- DATE arithmetic (no TIMESTAMP casts)
)
SELECT e.episode_id, coalesce(list_sort(list_distinct(list(x.dx) FILTER (WHERE x.dx IS NOT NULL))), []) AS dx
FROM eps AS e
LEFT JOIN (SELECT * FROM partb UNION ALL SELECT * FROM parta) AS x USING (episode_id)
GROUP BY e.episode_id
