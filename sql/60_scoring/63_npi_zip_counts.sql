-- G3: Part B lines per NPI, year and provider ZIP (RIF PRVDR_ZIP; CCLF5 has none).
SELECT npi, year(service_date)::INTEGER AS year, left(provider_zip, 5) AS zip5, count(*) AS lines
FROM {{partb_lines}}
WHERE npi IS NOT NULL AND provider_zip IS NOT NULL AND length(provider_zip) >= 5
  AND year(service_date) IN ({{reference_year}}, {{performance_year}})
GROUP BY ALL
