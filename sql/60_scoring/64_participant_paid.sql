-- P3/P4 and S5: per TIN/NPI, the net Part B paid amount B in the PY (N5) and lines billed.
SELECT tin, npi, sum(paid_amount)::DOUBLE AS partb_paid, count(*) AS partb_lines
FROM {{partb_lines}}
WHERE tin IS NOT NULL AND npi IS NOT NULL AND year(service_date) = {{performance_year}}
GROUP BY ALL
