-- C4 [DEFAULT] observed_cost_winsorized = min(observed, cap), cap = costs.winsor_percentile
--    (costs.winsor_interpolation: linear = quantile_cont) of observed cost over the cohort's episodes
--    that count for scoring (closed, not excluded, not quarantined) of the same performance year; raw
--    cost is kept. expected_cost is filled by risk (R2). Runs once over every beneficiary shard's
--    episode_observed_costs (sql/50_costs), because the cap is a cohort-wide percentile.
WITH caps AS (
    SELECT cohort, performance_year,
           CAST({{winsor_quantile}}(CAST(observed_cost AS DOUBLE), {{winsor_percentile}}) AS DECIMAL(38, 2)) AS winsor_cap
    FROM episode_observed_costs
    WHERE counts_for_scoring  -- E5/X1: closed, not excluded, not quarantined (25_episodes.sql)
    GROUP BY cohort, performance_year
)
SELECT c.*,
       k.winsor_cap,
       CASE WHEN k.winsor_cap IS NOT NULL AND c.observed_cost > k.winsor_cap THEN k.winsor_cap
            ELSE c.observed_cost END AS observed_cost_winsorized,
       CAST(NULL AS DOUBLE) AS expected_cost,
       c.hospitalizations > 0 AS has_hospitalization,
       c.post_acute_after_hospitalization > 0 AS has_post_acute_after_hospitalization,
       c.echos_beyond_first > 0 AS has_echos_beyond_first,
       c.injections_or_procedures > 0 AS has_injections_or_procedures
FROM episode_observed_costs AS c
LEFT JOIN caps AS k ON k.cohort = c.cohort AND k.performance_year = c.performance_year
