-- A3: TIN-level view (small practices may report at TIN level): the TIN's share of an episode is the
-- sum of its NPIs' shares (= its NPIs' basis values over the episode total), attributed at the same
-- threshold (attribution.threshold, inclusive, exact DECIMAL comparison).
SELECT episode_id, cohort, bene_id, performance_year, status, tin,
       count(*) AS npis,
       sum(qualifying_lines) AS qualifying_lines,
       sum(assigned_lines) AS assigned_lines,
       sum(assigned_allowed) AS assigned_allowed,
       any_value(basis) AS basis,
       sum(basis_value) AS basis_value,
       any_value(basis_total) AS basis_total,
       CASE WHEN any_value(basis_total) > 0
            THEN CAST(sum(basis_value) AS DOUBLE) / CAST(any_value(basis_total) AS DOUBLE) END AS share,
       (any_value(basis_total) > 0 AND sum(basis_value) > 0
        AND CAST(sum(basis_value) AS DECIMAL(38, 6)) >= CAST({{threshold}} AS DECIMAL(10, 6)) * any_value(basis_total)) AS attributed,
       any_value(excluded) AS excluded, any_value(quarantined) AS quarantined, any_value(scorable) AS scorable
FROM episode_attribution
GROUP BY episode_id, cohort, bene_id, performance_year, status, tin
