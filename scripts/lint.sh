#!/usr/bin/env bash
# The developer lane's static checks, as CI runs them: lint, format and types (configured in pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m ruff check .
python -m ruff format --check .
python -m mypy
echo "lint: ok"
