-- A1, A2: episode x participant (billing TIN/NPI). A participant's share of an episode is its part of
-- the attribution basis (attribution.basis [DEFAULT 'qualifying_lines']) among all billers:
--   qualifying_lines  E1 qualifying lines, any biller, service date inside [start_date, end_date] (the
--                     assigned Part B lines flagged is_qualifying);
--   assigned_lines    C1 assigned Part B lines (episode_lines, source 'partb');
--   assigned_allowed  net allowed amount of those lines.
-- A2: attributed when share >= attribution.threshold (30%, inclusive), compared exactly in DECIMAL
-- (basis_value >= threshold x basis_total), never on a rounded float. Several participants can be
-- attributed; an episode with none is kept unattributed (it simply has no attributed row).
-- Lines without TIN or NPI count in the total but are nobody's share. One row per participant with
-- any qualifying line in the episode (the contract's grain), plus, under an assigned_* basis, any
-- participant whose assigned lines give it a share; billers with neither are left out.
WITH participant AS (
    -- A1: a qualifying line inside an episode's window is one of its assigned Part B lines (C1 assigns every
    -- cohort line of the beneficiary in the window, 31_episode_lines_partb.sql), so one pass over the
    -- assigned lines counts both bases (issue 20: no second join of the cohort lines to the episodes)
    SELECT episode_id, tin, npi,
           count(*) FILTER (WHERE is_qualifying) AS qualifying_lines,
           count(*) AS assigned_lines,
           CAST(coalesce(sum(allowed_amount), 0) AS DECIMAL(38, 2)) AS assigned_allowed
    FROM episode_lines
    WHERE source = 'partb'
    GROUP BY ALL
),
basis AS (
    SELECT *,
           CAST(CASE {{basis}} WHEN 'qualifying_lines' THEN qualifying_lines
                               WHEN 'assigned_lines' THEN assigned_lines
                               ELSE assigned_allowed END AS DECIMAL(38, 2)) AS basis_value
    FROM participant
),
totals AS (
    SELECT *, sum(basis_value) OVER (PARTITION BY episode_id) AS basis_total FROM basis
)
SELECT t.episode_id, e.cohort, e.bene_id, e.performance_year, e.status, t.tin, t.npi,
       t.qualifying_lines, t.assigned_lines, t.assigned_allowed,
       {{basis}} AS basis, t.basis_value, t.basis_total,
       CASE WHEN t.basis_total > 0 THEN CAST(t.basis_value AS DOUBLE) / CAST(t.basis_total AS DOUBLE) END AS share,
       (t.basis_total > 0 AND t.basis_value > 0
        AND CAST(t.basis_value AS DECIMAL(38, 6)) >= CAST({{threshold}} AS DECIMAL(10, 6)) * t.basis_total) AS attributed,
       e.excluded, e.quarantined, e.scorable
FROM totals AS t
JOIN episodes AS e ON e.episode_id = t.episode_id
WHERE t.tin IS NOT NULL AND t.npi IS NOT NULL
  AND (t.qualifying_lines > 0 OR t.basis_value > 0)
