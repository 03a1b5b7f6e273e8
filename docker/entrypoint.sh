#!/usr/bin/env bash
# Entrypoint of the cardsvc API image (docker/Dockerfile): migrate, then serve.
#
#   (no arguments)   cardsvc db upgrade && exec cardsvc serve --host ... --port ... --workers ...
#   ARGS...          exec cardsvc ARGS...   (e.g. `db current`, `seed --persons 1000`)
#
# Environment:
#   CARDSVC_DATABASE_URL      required: e.g. postgresql://cardsvc@db:5432/cardsvc
#                             (a SQLite URL only on a mounted volume, never in the container)
#   CARDSVC_DB_PASSWORD_FILE  optional: a file holding the database password; exported as
#                             PGPASSWORD (read by libpq), so the URL needs no password
#   CARDSVC_HOST, CARDSVC_PORT, CARDSVC_WORKERS, CARDSVC_LOG_LEVEL
#                             `cardsvc serve` options (defaults 0.0.0.0, 8000, 2, info)
# Every other CARDSVC_* variable is read by the service itself (cardsvc/settings.py).
#
# Several replicas on one database: run `cardsvc db upgrade` once before starting them
# (e.g. a one-shot container with the argument `db upgrade`); two upgrades at the same
# moment are not serialised by a lock.
set -euo pipefail

die() {
  echo "cardsvc-entrypoint: $*" >&2
  exit 64
}

if [ -n "${CARDSVC_DB_PASSWORD_FILE:-}" ]; then
  [ -r "$CARDSVC_DB_PASSWORD_FILE" ] \
    || die "CARDSVC_DB_PASSWORD_FILE=$CARDSVC_DB_PASSWORD_FILE is not a readable file"
  PGPASSWORD="$(<"$CARDSVC_DB_PASSWORD_FILE")"
  [ -n "$PGPASSWORD" ] || die "the password file $CARDSVC_DB_PASSWORD_FILE is empty"
  export PGPASSWORD
fi

if [ "$#" -gt 0 ]; then
  exec cardsvc "$@"
fi

[ -n "${CARDSVC_DATABASE_URL:-}" ] \
  || die "set CARDSVC_DATABASE_URL (e.g. postgresql://cardsvc@db:5432/cardsvc); a container" \
    "has no durable database of its own"

cardsvc db upgrade
exec cardsvc serve \
  --host "${CARDSVC_HOST:-0.0.0.0}" \
  --port "${CARDSVC_PORT:-8000}" \
  --workers "${CARDSVC_WORKERS:-2}" \
  --log-level "${CARDSVC_LOG_LEVEL:-info}"
