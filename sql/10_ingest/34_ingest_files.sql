-- Ingest, output ingest_files: per input file, rows read = loaded + excluded + quarantined (31_file_stats).
SELECT * FROM file_stats ORDER BY source_file
