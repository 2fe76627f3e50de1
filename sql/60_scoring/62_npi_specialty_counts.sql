-- G1: Part B lines and allowed amount per NPI, year and specialty (reference year and PY only).
SELECT npi, year(service_date)::INTEGER AS year, specialty, count(*) AS lines, sum(allowed_amount)::DOUBLE AS allowed
FROM {{partb_lines}}
WHERE npi IS NOT NULL AND year(service_date) IN ({{reference_year}}, {{performance_year}})
GROUP BY ALL
