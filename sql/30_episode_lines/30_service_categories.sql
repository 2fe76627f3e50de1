-- C3 [DEFAULT]: the HCPCS ranges -> service category table (service_categories.csv of the code-list
-- folder), for lines without a BETOS code; the lowest priority number wins. Blank validity dates are open.
SELECT upper(trim(hcpcs_from)) AS hcpcs_from, upper(trim(hcpcs_to)) AS hcpcs_to,
       lower(trim(service_category)) AS service_category, CAST(priority AS INTEGER) AS priority,
       CAST(coalesce(nullif(valid_from, ''), '1900-01-01') AS DATE) AS valid_from,
       CAST(coalesce(nullif(valid_to, ''), '9999-12-31') AS DATE) AS valid_to
FROM read_csv({{service_categories_file}}, header = true, all_varchar = true)
