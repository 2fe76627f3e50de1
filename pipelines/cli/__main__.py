"""`python -m pipelines.cli`: the `asm` command."""
from pipelines.cli import main

raise SystemExit(main())
