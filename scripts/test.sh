#!/usr/bin/env bash
# Run the whole test suite: set-up (idempotent), ruff, mypy (strict), then pytest.
# PostgreSQL tests use CARDSVC_TEST_DATABASE_URL (default: the local server on
# 127.0.0.1:5432, database test); pcscd tests start a private pcscd when none runs.
# Extra arguments go to pytest, e.g. scripts/test.sh -k crypto
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

# --bench: also vicc and pycryptodome, so the benchmark smoke test runs vicc too
scripts/setup.sh --bench

export CARDSVC_TEST_DATABASE_URL="${CARDSVC_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"

# The PostgreSQL tests run for real: start the machine's cluster when it is down.
if [[ "$CARDSVC_TEST_DATABASE_URL" == *"@127.0.0.1:5432/"* ]] && command -v pg_isready >/dev/null \
   && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "test: PostgreSQL is down; starting it"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
fi

echo "== ruff"
.venv/bin/ruff check .
echo "== mypy (strict)"
.venv/bin/mypy
echo "== pytest"
exec .venv/bin/pytest "$@"
