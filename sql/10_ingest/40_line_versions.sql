-- Ingest, output line_versions (netting history): every readable Part B version delivered, with the
-- key of the netted line it belongs to (claim_control_number, current bene_id, line_number: join to
-- partb_lines), its version type (N4: original, adjustment, cancel), its amounts and the rule that
-- excluded it (NULL = it counted in the line's net amounts). partb_lines.source_file/source_row name
-- the version that supplied the line's attributes.
SELECT f.source_file, v.source_row, v.claim_control_number, v.bene_id, v.line_number,
       CASE v.adjustment_type WHEN 1 THEN 'cancel' WHEN 2 THEN 'adjustment' ELSE 'original' END AS version_type,
       v.allowed_amount, v.paid_amount, v.rule
FROM partb_versions AS v
JOIN input_files AS f USING (source_file_id)
