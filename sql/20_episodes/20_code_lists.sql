-- L: the versioned code lists (data/reference/code_lists/*.csv, folder set by episodes.code_list_dir),
-- one row per code, cohort and validity interval. A code counts for a service on date d when
-- valid_from <= d <= valid_to (inclusive), so an October ICD-10 update is a data change, not a code change.
-- Codes are compared dotless and upper case (N6).
SELECT upper(replace(trim(code), '.', '')) AS code,
       description,
       upper(trim(cohort)) AS cohort,
       lower(trim(list_name)) AS list_name,
       CAST(coalesce(nullif(trim(valid_from), ''), '1900-01-01') AS DATE) AS valid_from,
       CAST(coalesce(nullif(trim(valid_to), ''), '9999-12-31') AS DATE) AS valid_to,
       nullif(trim(service_group), '') AS service_group,
       filename AS source_file
FROM read_csv({{files}}, header = true, all_varchar = true, union_by_name = true, filename = true)
WHERE nullif(trim(code), '') IS NOT NULL
