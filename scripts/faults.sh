#!/usr/bin/env bash
# The fault suite at full size (docs/reliability.md): 100 scans through 3 workers with one
# killed every 3 s, Redis and PostgreSQL restarted under load, a poison scan, the proof that
# the harness catches an unsafe setup, and the API fuzzed with more examples. Everything runs
# on private servers on free ports and stops by itself. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

export FAULTS_SCALE=long
export FUZZ_EXAMPLES="${FUZZ_EXAMPLES:-100}"
# A private test database name: concurrent pytest runs on one test database break each other.
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/tumorapp_faults}"
exec .venv/bin/python -m pytest tests/faults tests/api_fuzz -p no:cacheprovider -s "$@"
