#!/usr/bin/env bash
# Entrypoint of the site-box image (docker/site-box.Dockerfile): pcscd as root, the
# cardsvc command (default `agent`) as uid 10001, and the container ends when either ends.
#
#   site-box-entrypoint [CARDSVC ARGS...]     default: agent
#
# Environment:
#   PCSCD_ARGS        extra pcscd options (e.g. "--debug"); split on spaces
#   AGENT_UID         the uid and gid the cardsvc command runs as (default 10001)
#   PCSCD_SOCKET      where pcscd's socket appears (default /run/pcscd/pcscd.comm)
#   PCSCD_START_TIMEOUT  seconds to wait for that socket (default 10)
set -euo pipefail

die() {
  echo "site-box-entrypoint: $*" >&2
  exit 64
}

agent_uid="${AGENT_UID:-10001}"
socket="${PCSCD_SOCKET:-/run/pcscd/pcscd.comm}"
timeout_s="${PCSCD_START_TIMEOUT:-10}"
[[ "$timeout_s" =~ ^[1-9][0-9]*$ ]] || die "PCSCD_START_TIMEOUT must be whole seconds, got '$timeout_s'"
[ "$(id -u)" = 0 ] \
  || die "start the container as root: pcscd needs root for the USB readers (the cardsvc" \
    "command itself runs as uid $agent_uid)"

if [ "$#" -eq 0 ]; then
  set -- agent
fi

read -r -a pcscd_args <<<"${PCSCD_ARGS:-}"
pcscd --foreground "${pcscd_args[@]}" &
pcscd_pid=$!

deadline=$((SECONDS + timeout_s))
until [ -S "$socket" ]; do
  kill -0 "$pcscd_pid" 2>/dev/null || die "pcscd exited while starting (see its log above)"
  [ "$SECONDS" -lt "$deadline" ] || die "pcscd did not open $socket within ${timeout_s} s"
  sleep 0.1
done

HOME=/srv/cardsvc setpriv --reuid="$agent_uid" --regid="$agent_uid" --clear-groups \
  --no-new-privs -- cardsvc "$@" &
agent_pid=$!

stop() {
  kill -TERM "$agent_pid" "$pcscd_pid" 2>/dev/null || true
}
trap stop TERM INT

# Whichever ends first (or a signal) ends both; the container's status is the first one's.
set +e
wait -n "$agent_pid" "$pcscd_pid"
status=$?
stop
wait "$agent_pid" 2>/dev/null
wait "$pcscd_pid" 2>/dev/null
exit "$status"
