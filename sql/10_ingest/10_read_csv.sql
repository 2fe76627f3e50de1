-- Ingest, read: a CCLF file delivered as CSV with a header of CCLF field names (extra columns
-- allowed; FILE_NAME / FILE_DATE, when present, give the delivery each row came from, used by N2).
-- The row as delivered (readers.RawRead.raw_fields) is the layout's read fields only (never CCLF8
-- names or addresses); a layout with unread fields is decoded as Latin-1 so bytes of fields never
-- read cannot cost a row.
SELECT {{columns}},
       row_number() OVER () AS source_row,
       {{delivery_file}} AS delivery_file,
       {{delivery_date}} AS delivery_date_text,
       NULL::INTEGER AS record_length
FROM read_csv({{path}}, header = true, delim = ',', all_varchar = true, encoding = {{encoding}}, store_rejects = true,
              ignore_errors = true, rejects_table = {{rejects_table}}, rejects_scan = {{rejects_scan}})
