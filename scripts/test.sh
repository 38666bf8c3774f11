#!/usr/bin/env bash
# One command for a fresh machine: install everything, start PostgreSQL and Redis, lint,
# check migrations and the compose file, then run the whole test suite against the real
# services. Extra arguments go to pytest (e.g. scripts/test.sh tests/ml -x).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/services.sh
scripts/setup.sh --dev
export DJANGO_SETTINGS_MODULE=tumorapp.settings.test

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== import layers (pyproject.toml [tool.importlinter], docs/architecture.md)"
.venv/bin/lint-imports --no-cache
echo "== migrations"
.venv/bin/python manage.py makemigrations --check --dry-run
echo "== compose file"
docker-compose -f docker/compose.yaml --env-file docker/env.example config -q
echo "== pytest"
.venv/bin/python -m pytest "$@"
