-- Ingest, read: a CCLF file delivered as CSV with a header of CCLF field names (extra columns
-- allowed; FILE_NAME / FILE_DATE, when present, give the delivery each row came from, used by N2).
SELECT {{columns}},
       row_number() OVER () AS source_row,
       {{delivery_file}} AS delivery_file,
       {{delivery_date}} AS delivery_date_text,
       list_value(*COLUMNS(*)) AS raw_record,
       NULL::INTEGER AS record_length
FROM read_csv({{path}}, header = true, delim = ',', all_varchar = true, store_rejects = true,
              ignore_errors = true, rejects_table = {{rejects_table}}, rejects_scan = {{rejects_scan}})
