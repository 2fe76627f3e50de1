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
),
reference_check AS (
    -- issue 21 item 1 (bad input): the cohort and PY's mean winsorized cost of scorable episodes against CMS's
    -- national average of the cohort's MIPS cost measure (cost_reference), judged from
    -- costs.reference_check_min_episodes episodes on; off by more than costs.reference_max_factor either way
    -- stops the run (blocking expectation cohort_cost_plausible) unless `asm run --accept-amounts`
    SELECT c.cohort, c.performance_year, count(*) AS episodes,
           avg(least(c.observed_cost, coalesce(k.winsor_cap, c.observed_cost)))::DOUBLE AS mean_cost,
           any_value(r.cost_measure) AS cost_measure, any_value(r.national_average) AS national_average
    FROM episode_observed_costs AS c
    JOIN cost_reference AS r USING (cohort)
    LEFT JOIN caps AS k USING (cohort, performance_year)
    WHERE c.counts_for_scoring
    GROUP BY c.cohort, c.performance_year
),
reference_problem AS (
    SELECT cohort, performance_year,
           printf('%s %d: mean episode cost $%s over %d scorable episodes is %.3gx CMS''s national average $%s '
                  || '(%s; limit %gx either way): %s', cohort, performance_year, format('{:,.0f}', mean_cost),
                  episodes, mean_cost / national_average, format('{:,.0f}', national_average), cost_measure,
                  {{reference_max_factor}},
                  CASE WHEN mean_cost > national_average
                       THEN 'amounts in cents read as dollars (Part B allowed, Part A CLM_PMT_AMT)?'
                       ELSE 'amounts read 100x too small, or claims missing (Part A files absent?)?' END
                  || ' (if it is right: asm run --accept-amounts)')
               AS cohort_cost_problem
    FROM reference_check
    WHERE NOT {{accept_amounts}} AND episodes >= {{reference_check_min_episodes}} AND national_average > 0
      AND (mean_cost > {{reference_max_factor}} * national_average
           OR mean_cost * {{reference_max_factor}} < national_average)
)
SELECT c.*,
       k.winsor_cap,
       CASE WHEN k.winsor_cap IS NOT NULL AND c.observed_cost > k.winsor_cap THEN k.winsor_cap
            ELSE c.observed_cost END AS observed_cost_winsorized,
       CAST(NULL AS DOUBLE) AS expected_cost,
       c.hospitalizations > 0 AS has_hospitalization,
       c.post_acute_after_hospitalization > 0 AS has_post_acute_after_hospitalization,
       c.echos_beyond_first > 0 AS has_echos_beyond_first,
       c.injections_or_procedures > 0 AS has_injections_or_procedures,
       p.cohort_cost_problem
FROM episode_observed_costs AS c
LEFT JOIN caps AS k ON k.cohort = c.cohort AND k.performance_year = c.performance_year
LEFT JOIN reference_problem AS p ON p.cohort = c.cohort AND p.performance_year = c.performance_year
