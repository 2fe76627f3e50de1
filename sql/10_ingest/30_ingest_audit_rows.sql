-- Ingest, output ingest_audit: every input row excluded by a rule, with the rule id and why
-- (N1 older cross-walk deliveries, N2 re-deliveries, N3 denials / processing indicator,
-- N4 non-final RIF rows and versions of lines whose cancels net them away).
SELECT f.source_file, a.source_row, a.rule, a.detail, a.claim_id, a.line_number, a.claim_control_number, a.bene_id
FROM (
    SELECT source_file_id, source_row, rule, detail, claim_id, line_number, claim_control_number, bene_id
    FROM partb_versions WHERE rule IS NOT NULL
    UNION ALL
    SELECT source_file_id, source_row, 'N4', detail, claim_id, line_number, claim_control_number, bene_id
    FROM partb_netted_away
    UNION ALL
    SELECT source_file_id, source_row, rule, detail, claim_id, NULL, claim_control_number, bene_id
    FROM parta_versions WHERE rule IS NOT NULL
    UNION ALL
    SELECT v.source_file_id, v.source_row, 'N4',
           'netted away: ' || g.cancels || ' cancel(s) for ' || g.versions || ' original/adjustment version(s)',
           v.claim_id, NULL, v.claim_control_number, v.bene_id
    FROM parta_versions AS v JOIN parta_netting AS g USING (claim_control_number, bene_id)
    WHERE v.rule IS NULL AND NOT g.survives
    UNION ALL
    SELECT source_file_id, source_row, 'N2', 'diagnosis row re-delivered; newer copy kept', claim_id, dx_sequence, NULL, bene_id
    FROM parta_diagnosis_versions WHERE is_redelivery
    UNION ALL
    SELECT source_file_id, source_row, 'N2', 'older demographics row; newest delivery kept', NULL, NULL, NULL, bene_id
    FROM beneficiary_versions WHERE is_superseded
    UNION ALL
    SELECT source_file_id, source_row, 'N1', 'cross-walk row of an older delivery; the newest is cumulative', NULL, NULL, NULL, NULL
    FROM xref_versions WHERE rule = 'N1'
) AS a
JOIN input_files AS f USING (source_file_id)
