#!/usr/bin/env bash
# One command for a fresh machine: set up, migrate, demo users, trained model active, demo
# scans, static files, then serve the embedded site at http://127.0.0.1:8000 (SQLite,
# in-process tasks).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
py=.venv/bin/python
$py manage.py migrate --noinput
$py manage.py create_demo_users
# The shipped model becomes the active registry version on the first run (a no-op later).
$py manage.py model_register --shipped --activate
# The previous shipped model stays registered as a rollback target.
$py manage.py model_register models/brain-mri-cnn-v2 >/dev/null
$py manage.py model_register models/brain-mri-cnn-v3 >/dev/null
# A small demo worklist from the shared data set, uploaded and predicted once (a no-op later,
# and when the data set is absent).
$py manage.py demo_scans
$py manage.py collectstatic --noinput --verbosity 0
echo "Serving on http://127.0.0.1:8000  (demo users: radiologist, technologist, admin, datateam;"
echo "password: <username>-demo-pass)"
# runembedded: runserver plus the in-process beat (quality roll-ups, sweeps, escalation).
exec $py manage.py runembedded 127.0.0.1:8000
