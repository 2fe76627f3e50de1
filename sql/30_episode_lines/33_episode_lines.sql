-- C1, E6: episode_lines, every service assigned to an episode (Part B lines from 41, Part A claims
-- from 42) with its service category (C3) and cost amount (C2: Part B cost_amount per N5, Part A
-- CLM_PMT_AMT). Key (episode_id, source, claim_control_number, line_number) leads back to
-- partb_lines (claim_control_number, line_number, bene_id) and parta_claims (claim_control_number).
SELECT * EXCLUDE (line_rowid) FROM episode_lines_partb
UNION ALL BY NAME
SELECT * EXCLUDE (line_rowid) FROM episode_lines_parta
