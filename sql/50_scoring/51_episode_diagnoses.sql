-- R1: every diagnosis of the episode's beneficiary on Part B lines (line and claim diagnoses) and
-- Part A claims (CCLF4) dated in the lookback window before the episode start
-- (start - lookback_days .. start - 1, inclusive). One row per episode with a sorted distinct list.
WITH eps AS (
    SELECT episode_id, bene_id, start_date FROM read_parquet({{episodes}})
),
partb AS (
    SELECT e.episode_id, unnest(list_append(coalesce(l.claim_dx, []), l.line_dx)) AS dx
    FROM eps AS e
    JOIN read_parquet({{partb_lines}}) AS l
      ON l.bene_id = e.bene_id
     AND l.service_date BETWEEN e.start_date - INTERVAL ({{lookback_days}}) DAY AND e.start_date - INTERVAL 1 DAY
),
parta AS (
    SELECT e.episode_id, d.dx
    FROM eps AS e
    JOIN read_parquet({{parta_diagnoses}}) AS d
      ON d.bene_id = e.bene_id
     AND d.from_date BETWEEN e.start_date - INTERVAL ({{lookback_days}}) DAY AND e.start_date - INTERVAL 1 DAY
)
SELECT e.episode_id, coalesce(list_sort(list_distinct(list(x.dx) FILTER (WHERE x.dx IS NOT NULL))), []) AS dx
FROM eps AS e
LEFT JOIN (SELECT * FROM partb UNION ALL SELECT * FROM parta) AS x USING (episode_id)
GROUP BY e.episode_id
