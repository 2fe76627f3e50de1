-- Ingest, output ingest_files: per input file, rows read = loaded + excluded + quarantined
-- (data-contracts "Bad input"). rows_read is the physical rows counted when each file was staged;
-- rows_loaded is counted from the versions and netting, independently, so `reconciled` is a real
-- check, not an identity.
WITH loaded AS (
    SELECT source_file_id, count(*) AS n FROM (
        SELECT v.source_file_id FROM parta_versions AS v
        JOIN parta_netting AS g USING (claim_control_number, bene_id)
        WHERE v.rule IS NULL AND g.survives
        UNION ALL SELECT source_file_id FROM parta_diagnosis_versions WHERE NOT is_redelivery
        UNION ALL SELECT source_file_id FROM beneficiary_versions WHERE NOT is_superseded
        UNION ALL SELECT source_file_id FROM xref_versions WHERE rule IS NULL)
    GROUP BY source_file_id
),
partb_loaded AS (
    -- Part B: versions no rule excludes, less those whose line is netted away (25_partb_netted_away)
    SELECT source_file_id, count(*) FILTER (WHERE rule IS NULL) - coalesce(any_value(w.n), 0) AS n
    FROM partb_versions AS v
    LEFT JOIN (SELECT source_file_id, count(*) AS n FROM partb_netted_away GROUP BY ALL) AS w USING (source_file_id)
    GROUP BY source_file_id
),
deliveries AS (
    -- bad input: a Part B delivery with enough lines is judged against the configured limits and
    -- against the run's Part B deliveries: its median allowed amount against their middle one (the
    -- median of their medians on a log scale, so one wrong delivery among three does not move it)
    SELECT f.source_file_id,
           CASE
               WHEN f.profile_lines < {{delivery_check_min_lines}} THEN NULL
               WHEN f.zero_tin_lines = f.profile_lines THEN 'every line''s TIN is all zeros'
               WHEN f.blank_dx_lines = f.profile_lines THEN 'every line''s diagnosis codes are blank'
               WHEN f.distinct_npis = 1 THEN 'every line has the same NPI'
               WHEN f.distinct_service_dates = 1 THEN 'every line has the same service date'
               WHEN f.negative_allowed_lines > {{delivery_max_negative_allowed_share}} * f.profile_lines
                   THEN printf('%.1f%% of original lines have a negative allowed amount (limit %.1f%%)',
                               100.0 * f.negative_allowed_lines / f.profile_lines,
                               100.0 * {{delivery_max_negative_allowed_share}})
               WHEN o.median_allowed > 0 AND (f.median_allowed > {{delivery_max_amount_ratio}} * o.median_allowed
                                              OR f.median_allowed * {{delivery_max_amount_ratio}} < o.median_allowed)
                   THEN printf('median allowed amount %.2f is %.3gx the deliveries'' median %.2f (limit %gx)',
                               f.median_allowed, f.median_allowed / o.median_allowed, o.median_allowed,
                               {{delivery_max_amount_ratio}})
           END AS delivery_problem
    FROM input_files AS f
    CROSS JOIN (SELECT exp(median(ln(median_allowed))) AS median_allowed FROM input_files
                WHERE profile_lines >= {{delivery_check_min_lines}} AND median_allowed > 0) AS o
    WHERE f.profile_lines IS NOT NULL
),
excluded AS (
    SELECT source_file, sum(k)::BIGINT AS n, coalesce(sum(k) FILTER (WHERE rule = 'N2'), 0)::BIGINT AS n2,
           string_agg(rule || ' ' || k, ', ' ORDER BY rule) AS by_rule
    FROM (SELECT source_file, rule, count(*) AS k FROM ingest_audit_rows GROUP BY ALL)
    GROUP BY source_file
),
quarantined AS (SELECT source_file, count(*) AS n FROM quarantine_rows GROUP BY source_file),
partb_content AS (
    -- issue 21 item 1: the median allowed amount of the commonest E&M codes (ingest.em_allowed_codes) over a
    -- Part B delivery's readable original and adjustment lines; issue 21 item 2: a RIF file's month, when its
    -- name carries no .Dyymmdd., is that of the median processing date (NCH_WKLY_PROC_DT) of its lines
    SELECT source_file_id,
           count(*) FILTER (WHERE list_contains({{em_allowed_codes}}, hcpcs)) AS em_lines,
           (median(allowed_amount) FILTER (WHERE list_contains({{em_allowed_codes}}, hcpcs)))::DOUBLE AS em_median_allowed,
           date_trunc('month', quantile_disc(effective_date, 0.5))::DATE AS processing_month
    FROM stage_partb
    WHERE quarantine_reason IS NULL AND adjustment_type <> 1
    GROUP BY source_file_id
),
files AS (
    SELECT f.source_file_id, f.source_file, f.kind, f.format,
           f.rows_read,
           coalesce(l.n, 0) + coalesce(b.n, 0) AS rows_loaded,
           coalesce(e.n, 0) AS rows_excluded,
           coalesce(q.n, 0) AS rows_quarantined,
           coalesce(e.n2, 0) AS rows_redelivered, e.by_rule AS excluded_by_rule,
           f.padded_records, f.sha256, f.size AS bytes,
           f.profile_lines, f.negative_allowed_lines, f.median_allowed, f.distinct_npis, f.distinct_service_dates,
           f.blank_dx_lines, f.zero_tin_lines, d.delivery_problem,
           c.em_lines, c.em_median_allowed,
           -- the month a monthly claims delivery stands for (CCLF8/CCLF9 are cumulative re-sends: none)
           CASE WHEN f.kind IN ('cclf1', 'cclf4', 'cclf5', 'rif_carrier')
                THEN coalesce(date_trunc('month', f.delivery_date)::DATE, c.processing_month) END AS delivery_month
    FROM input_files AS f
    LEFT JOIN loaded AS l USING (source_file_id)
    LEFT JOIN partb_loaded AS b USING (source_file_id)
    LEFT JOIN excluded AS e USING (source_file)
    LEFT JOIN quarantined AS q USING (source_file)
    LEFT JOIN deliveries AS d USING (source_file_id)
    LEFT JOIN partb_content AS c USING (source_file_id)
    WHERE f.kind IN ('cclf1', 'cclf4', 'cclf5', 'cclf8', 'cclf9', 'rif_carrier')
),
months AS (
    -- issue 21 item 2: per layout and month, the lines delivered, the month delivered before, and the median
    -- of the neighbouring months' lines (up to two before and two after)
    SELECT *, date_diff('month', previous_month, delivery_month) AS spacing,
           median(month_rows) OVER (PARTITION BY kind ORDER BY delivery_month
                                    ROWS BETWEEN 2 PRECEDING AND 2 FOLLOWING EXCLUDE CURRENT ROW) AS neighbours_median
    FROM (SELECT kind, delivery_month, sum(rows_read)::BIGINT AS month_rows,
                 lag(delivery_month) OVER (PARTITION BY kind ORDER BY delivery_month) AS previous_month
          FROM files WHERE delivery_month IS NOT NULL GROUP BY kind, delivery_month)
),
cadence AS (
    -- CCLF claims files are monthly; RIF files come at their own cadence (monthly, yearly): their shortest spacing
    SELECT kind, CASE WHEN kind = 'rif_carrier' THEN greatest(min(spacing), 1) ELSE 1 END AS months
    FROM months GROUP BY kind
),
gaps AS (
    -- the months a layout's cadence expected between the month before and this one (empty: no gap)
    SELECT m.*, list_transform(range(k.months, greatest(m.spacing, k.months), k.months),
                               lambda i: strftime(m.previous_month + to_months(i::INTEGER), '%Y-%m')) AS missing_months
    FROM months AS m JOIN cadence AS k USING (kind)
),
judged AS (
    SELECT f.*, m.previous_month, m.month_rows, m.neighbours_median,
           -- issue 21 item 2: an incomplete delivery (problem, and the months an --accept-incomplete must name)
           CASE
               WHEN f.kind IN ('cclf8', 'cclf9') THEN NULL  -- cumulative re-sends, not monthly claims
               -- no rows (loaded), or a month missing, where the neighbouring months of the layout have lines (a
               -- small population's empty or undelivered Part A month is no alarm); a layout's only delivery is
               -- always judged for rows
               WHEN f.rows_read = 0 AND coalesce(m.neighbours_median, {{incomplete_min_neighbour_lines}}) >= {{incomplete_min_neighbour_lines}}
                   THEN {'problem': 'no rows: the file holds a header only',
                                          'months': [strftime(f.delivery_month, '%Y-%m')]}
               WHEN f.rows_loaded = 0 AND f.rows_redelivered < f.rows_read - f.rows_quarantined  -- not a whole re-delivery (N2)
                    AND coalesce(m.neighbours_median, {{incomplete_min_neighbour_lines}}) >= {{incomplete_min_neighbour_lines}}
                   THEN {'problem': printf('none of its %d rows was loaded (excluded: %s)', f.rows_read, f.excluded_by_rule),
                         'months': [strftime(f.delivery_month, '%Y-%m')]}
               WHEN len(m.missing_months) > 0 AND m.neighbours_median >= {{incomplete_min_neighbour_lines}}
                   THEN {'problem': printf('%s missing: no %s delivery between %s and %s',
                                           array_to_string(m.missing_months, ', '), upper(f.kind),
                                           strftime(m.previous_month, '%Y-%m'), strftime(f.delivery_month, '%Y-%m')),
                         'months': m.missing_months}
               WHEN m.neighbours_median >= {{delivery_check_min_lines}}
                    AND m.month_rows < {{incomplete_min_share}} * m.neighbours_median
                   THEN {'problem': printf('month %s has %d %s lines, %.0f%% of the median of its neighbouring months (%d; limit %.0f%%)',
                                           strftime(f.delivery_month, '%Y-%m'), m.month_rows, upper(f.kind),
                                           100.0 * m.month_rows / m.neighbours_median, m.neighbours_median::BIGINT,
                                           100.0 * {{incomplete_min_share}}),
                         'months': [strftime(f.delivery_month, '%Y-%m')]}
           END AS incomplete,
           -- issue 21 item 1: the E&M median against the plausible band (the ratio shown to the nearest power of 10
           -- of the band's geometric middle: "100x too large" for cents read as dollars)
           CASE
               WHEN f.em_lines >= {{em_check_min_lines}} AND f.em_median_allowed > {{em_allowed_band}}[2]
                   THEN printf('allowed amounts look %sx too large (median allowed for %s is $%s against a plausible $%s-$%s): cents read as dollars?',
                               format('{:,.0f}', 10 ** greatest(1, round(log10(f.em_median_allowed / sqrt({{em_allowed_band}}[1] * {{em_allowed_band}}[2]))))),
                               array_to_string({{em_allowed_codes}}, '/'), format('{:,.0f}', f.em_median_allowed),
                               format('{:,.0f}', {{em_allowed_band}}[1]), format('{:,.0f}', {{em_allowed_band}}[2]))
               WHEN f.em_lines >= {{em_check_min_lines}} AND f.em_median_allowed < {{em_allowed_band}}[1]
                   THEN printf('allowed amounts look %sx too small (median allowed for %s is $%s against a plausible $%s-$%s): dollars read as cents?',
                               format('{:,.0f}', 10 ** greatest(1, round(-log10(f.em_median_allowed / sqrt({{em_allowed_band}}[1] * {{em_allowed_band}}[2]))))),
                               array_to_string({{em_allowed_codes}}, '/'), format('{:,.2f}', f.em_median_allowed),
                               format('{:,.0f}', {{em_allowed_band}}[1]), format('{:,.0f}', {{em_allowed_band}}[2]))
           END AS amounts
    FROM files AS f
    LEFT JOIN gaps AS m USING (kind, delivery_month)
),
accepted AS (
    -- what `asm run --accept-incomplete` (file names or YYYY-MM months) and `--accept-amounts` accept
    SELECT *,
           incomplete IS NOT NULL
           AND (list_contains({{accept_incomplete}}::VARCHAR[], source_file)
                OR (len(named_months) > 0 AND list_has_all({{accept_incomplete}}::VARCHAR[], named_months)))
               AS incomplete_accepted,
           amounts IS NOT NULL AND {{accept_amounts}} AS amounts_accepted
    FROM (SELECT *, list_filter(incomplete.months, lambda x: x IS NOT NULL) AS named_months FROM judged)
)
SELECT source_file, kind, format, rows_read, rows_loaded, rows_excluded, rows_quarantined,
       rows_read = rows_loaded + rows_excluded + rows_quarantined AS reconciled,
       padded_records, sha256, bytes,
       profile_lines, negative_allowed_lines, median_allowed, distinct_npis, distinct_service_dates,
       blank_dx_lines, zero_tin_lines, delivery_problem,
       em_lines, em_median_allowed, delivery_month, month_rows, neighbours_median,
       -- the reason, and how to run on if the data is right (issue 21: the message says how to override)
       CASE WHEN NOT incomplete_accepted
            THEN incomplete.problem || printf(' (if expected: asm run --accept-incomplete %s)',
                     CASE WHEN len(named_months) > 0 THEN array_to_string(named_months, ',')
                          ELSE source_file END) END AS completeness_problem,
       CASE WHEN NOT amounts_accepted THEN amounts || ' (if they are right: asm run --accept-amounts)' END AS amount_problem,
       nullif(concat_ws('; ', CASE WHEN incomplete_accepted THEN 'incomplete: ' || incomplete.problem END,
                        CASE WHEN amounts_accepted THEN 'amounts: ' || amounts END), '') AS accepted_problem
FROM accepted
