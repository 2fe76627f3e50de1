-- C2, C3: one row per episode, its observed cost before winsorizing (C4).
-- C2 observed_cost = Part B cost (N5 cost_amount) + Part A cost (CLM_PMT_AMT), both also reported
--    separately. Open episodes (E5) carry their cost to date.
-- C3 cost by service category (one cost_<category> column per entry of
--    pipelines.engine.reference.SERVICE_CATEGORIES, rendered into the category_cost_* placeholders) and
--    driver flags: hospitalizations (assigned inpatient stays); post-acute claims after a
--    hospitalization; echocardiograms beyond the first (HF; distinct echo service dates - 1);
--    advanced imaging (CT/MRI) in the first costs.early_imaging_days days (LBP); injections or
--    procedures (assigned lines in category 'procedures' or service group 'injection'); spine surgery
--    (LBP: decompression/fusion lines, or a spine-surgery DRG stay).
-- Per beneficiary shard (pipelines/engine/shards.py): nothing here looks beyond one episode's lines. The
-- winsorizing cap (C4) is a percentile over the whole cohort: sql/55_winsorizing, once over every shard.
WITH agg AS (
    SELECT l.episode_id,
           sum(l.cost_amount) FILTER (WHERE l.source = 'partb') AS partb_cost,
           sum(l.cost_amount) FILTER (WHERE l.source = 'parta') AS parta_cost,
           {{category_cost_sums}},
           count(*) FILTER (WHERE l.source = 'partb') AS partb_lines,
           count(*) FILTER (WHERE l.source = 'parta') AS parta_claims,
           coalesce(bool_or(l.service_group = 'advanced_imaging' AND l.episode_day < {{early_imaging_days}}), false) AS advanced_imaging_early,
           count(*) FILTER (WHERE l.source = 'partb' AND (l.service_category = 'procedures' OR l.service_group = 'injection')) AS injections_or_procedures,
           coalesce(bool_or(l.service_group = 'spine_surgery'), false) AS spine_surgery
    FROM episode_lines AS l
    GROUP BY l.episode_id
),
distinct_counts AS (
    -- the DISTINCT counts over the few lines they look at (Part A claims, echocardiograms), not every line
    SELECT l.episode_id,
           count(DISTINCT l.claim_control_number) FILTER (WHERE l.source = 'parta' AND l.service_category = 'inpatient') AS hospitalizations,
           count(DISTINCT l.claim_control_number) FILTER (WHERE l.source = 'parta' AND l.service_category = 'post_acute') AS post_acute_after_hospitalization,
           greatest(count(DISTINCT l.service_date) FILTER (WHERE l.service_group = 'echocardiography') - 1, 0) AS echos_beyond_first
    FROM episode_lines AS l
    WHERE l.source = 'parta' OR l.service_group = 'echocardiography'
    GROUP BY l.episode_id
)
SELECT e.episode_id, e.cohort, e.performance_year, e.status, e.excluded, e.quarantined, e.counts_for_scoring,
       e.scorable,
       CAST(coalesce(a.partb_cost, 0) + coalesce(a.parta_cost, 0) AS DECIMAL(38, 2)) AS observed_cost,
       CAST(coalesce(a.partb_cost, 0) AS DECIMAL(38, 2)) AS partb_cost,
       CAST(coalesce(a.parta_cost, 0) AS DECIMAL(38, 2)) AS parta_cost,
       {{category_cost_columns}},
       coalesce(a.partb_lines, 0) AS partb_lines,
       coalesce(a.parta_claims, 0) AS parta_claims,
       coalesce(d.hospitalizations, 0) AS hospitalizations,
       coalesce(d.post_acute_after_hospitalization, 0) AS post_acute_after_hospitalization,
       coalesce(d.echos_beyond_first, 0) AS echos_beyond_first,
       coalesce(a.advanced_imaging_early, false) AS advanced_imaging_early,
       coalesce(a.injections_or_procedures, 0) AS injections_or_procedures,
       coalesce(a.spine_surgery, false) AS spine_surgery
FROM episodes AS e
LEFT JOIN agg AS a ON a.episode_id = e.episode_id
LEFT JOIN distinct_counts AS d ON d.episode_id = e.episode_id
