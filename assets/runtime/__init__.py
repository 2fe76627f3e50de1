"""What a Dagster run holds while it runs: the resource (run settings, the output folder's lock, input
hashes), the run record (instance, summary, progress) and the object store steps exchange tables through."""
