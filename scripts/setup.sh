#!/usr/bin/env bash
# Install everything cardsvc needs on a Debian machine, idempotently:
#   system packages (pcscd, vsmartcard-vpcd, libpcsclite-dev, swig, build tools, pcsc-tools, a CJK font for kiosk receipts)
#   and the project with its dev extras in ./.venv.
# Usage: scripts/setup.sh [--bench]   (--bench also installs vsmartcard's vicc for the benchmarks)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

bench=0
for arg in "$@"; do
  case "$arg" in
    --bench) bench=1 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "setup: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

fail() { echo "setup: $*" >&2; exit 1; }

packages=(pcscd vsmartcard-vpcd libpcsclite-dev swig build-essential pkg-config python3-dev python3-venv pcsc-tools fonts-droid-fallback)
if [ "$bench" = 1 ]; then
  packages+=(vsmartcard-vpicc python3-virtualsmartcard wrk)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || fail "need root or sudo to apt-get install: ${missing[*]}"
    sudo="sudo"
  fi
  echo "setup: installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq || fail "apt-get update failed: check the network and /etc/apt/sources.list"
  # --no-install-recommends keeps pcscd from pulling in a systemd unit we never use here.
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || fail "apt-get install failed for: ${missing[*]} (run it by hand to see why)"
else
  echo "setup: system packages already installed"
fi

python="${PYTHON:-python3}"
"$python" -c 'import sys; assert sys.version_info >= (3, 11), sys.version' 2>/dev/null \
  || fail "need Python >= 3.11 as '$python' (set PYTHON=/path/to/python3.11)"

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$python" -m venv .venv || fail "could not create .venv (is python3-venv installed?)"
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null || fail "could not upgrade pip in .venv"
echo "setup: installing cardsvc with dev extras into .venv (pyscard builds from source)"
.venv/bin/python -m pip install -q -e ".[dev]" || fail "pip install -e .[dev] failed (see above; pyscard needs swig and libpcsclite-dev)"
if [ "$bench" = 1 ]; then
  .venv/bin/python -m pip install -q pycryptodome || fail "could not install pycryptodome (needed by vicc for the benchmarks)"
fi
echo "setup: done. Try: .venv/bin/cardsvc --help"
