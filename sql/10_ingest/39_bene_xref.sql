-- Ingest, output bene_xref: the resolved N1 cross-walk (previous id -> most recent id).
SELECT * FROM bene_xref ORDER BY previous_bene_id
