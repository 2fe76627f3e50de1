-- Ingest, bad input (data-contracts): the profile of one Part B delivery, computed when the file is
-- staged, over its readable original and adjustment lines (cancels are the negative versions): how
-- many carry a negative allowed amount, the median allowed amount, how many NPIs, service dates,
-- lines with every diagnosis blank and lines whose TIN is all zeros. 31_file_stats judges it.
SELECT count(*) AS profile_lines,
       count(*) FILTER (WHERE allowed_amount < 0) AS negative_allowed_lines,
       median(allowed_amount)::DOUBLE AS median_allowed,
       count(DISTINCT npi) AS distinct_npis,
       count(DISTINCT service_date) AS distinct_service_dates,
       count(*) FILTER (WHERE line_dx IS NULL AND len(coalesce(claim_dx, [])) = 0) AS blank_dx_lines,
       count(*) FILTER (WHERE regexp_full_match(coalesce(tin, ''), '0+')) AS zero_tin_lines
FROM read_parquet({{staged}})
WHERE quarantine_reason IS NULL AND adjustment_type <> 1
