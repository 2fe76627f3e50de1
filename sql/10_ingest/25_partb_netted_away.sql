-- Ingest, rule N4: the versions of lines whose cancels net them away (the group does not survive):
-- every such version is excluded with rule N4 in the audit, and is not loaded. Small: only the
-- non-surviving groups are joined back to their versions.
SELECT v.source_file_id, v.source_row, v.claim_id, v.line_number, v.claim_control_number, v.bene_id,
       'netted away: ' || n.cancels || ' cancel(s) for ' || n.versions || ' original/adjustment version(s)' AS detail
FROM partb_versions AS v
JOIN (SELECT * FROM partb_netting WHERE NOT survives) AS n USING (claim_control_number, bene_id, line_number)
WHERE v.rule IS NULL
