"""Where the project's own files live (SQL, reference data, expectations), independent of the cwd."""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = REPO_ROOT / "sql"
REFERENCE_DIR = REPO_ROOT / "data" / "reference"
LAYOUT_DIR = REFERENCE_DIR / "layouts"
METHODOLOGY_DIR = REPO_ROOT / "data" / "methodology"
EXPECTATIONS_DIR = REPO_ROOT / "expectations"
