"""`python -m pipelines.engine.methodology`: validate the methodology configuration (and a --config
file) and print the effective values, or render the parameter reference (--markdown)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipelines.engine.methodology.docs import render_markdown
from pipelines.engine.methodology.loading import MethodologyError, load_methodology
from pipelines.engine.methodology.schema import PERFORMANCE_YEARS


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipelines.engine.methodology",
                                 description="Validate the methodology configuration or render its reference.")
    ap.add_argument("--markdown", action="store_true", help="print the parameter reference (Markdown)")
    ap.add_argument("--performance-year", type=int, default=None, help="one PY (default: every PY)")
    ap.add_argument("--config", type=Path, default=None, help="override file to validate (TOML)")
    args = ap.parse_args(argv)
    try:
        if args.markdown:
            years = (args.performance_year,) if args.performance_year else None
            sys.stdout.write(render_markdown(years))
            return 0
        m = load_methodology(args.performance_year or PERFORMANCE_YEARS[0], args.config)
    except MethodologyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"performance_year": m.performance_year, "label": m.label, "fingerprint": m.fingerprint,
                      "params": m.params}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
