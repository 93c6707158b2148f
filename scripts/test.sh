#!/usr/bin/env bash
# The whole test suite from a fresh machine: setup, lint, types, import layers, unit and
# integration tests.
# Integration tests boot sandbox servers (needs root); `scripts/test.sh -m "not integration"`
# runs the unit tests alone in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh tests
echo "== ruff"; .venv/bin/ruff check src tests bench
echo "== mypy"; .venv/bin/mypy src
echo "== import-linter"; .venv/bin/lint-imports
echo "== pytest"
exec .venv/bin/pytest -p no:cacheprovider "$@"
