-- Ingest, read: a CCLF file delivered as Parquet (CCLF field names, text or typed columns).
SELECT {{columns}},
       file_row_number + 1 AS source_row,
       {{delivery_file}} AS delivery_file,
       {{delivery_date}} AS delivery_date_text,
       NULL::INTEGER AS record_length
FROM read_parquet({{path}}, file_row_number = true)
