-- Ingest, read: one fixed-width CCLF delivery (no header) -> one text row per physical record.
-- Fields are cut at the 1-based positions of data/reference/layouts/<layout>.csv (CMS CCLF IP
-- Appendix B); fields marked ingest=no there (CCLF8 names, addresses) are never read.
-- Records with invalid bytes are rejected by the reader and quarantined (invalid_encoding).
-- source_row here counts readable records; the caller shifts it past reader rejects.
SELECT {{field_slices}},
       row_number() OVER () AS source_row,
       NULL::VARCHAR AS delivery_file,
       NULL::VARCHAR AS delivery_date_text,
       line AS raw_record,
       coalesce(strlen(line), 0) AS record_length
FROM read_csv({{path}}, columns = {'line': 'VARCHAR'}, header = false, delim = chr(31), quote = '',
              escape = '', auto_detect = false, store_rejects = true, ignore_errors = true,
              rejects_table = {{rejects_table}}, rejects_scan = {{rejects_scan}})
