#!/usr/bin/env bash
# Installs what the browser end-to-end tests (tests/ui_e2e/) need beyond the Python test extra:
# Debian's chromium. Playwright's own browser download cannot work here (no access beyond the
# package registries), so the tests drive the distribution's build instead.
# Safe to run repeatedly: it does nothing once /usr/bin/chromium exists.
set -euo pipefail

chromium=${NODELOOM_CHROMIUM:-/usr/bin/chromium}
if [ -x "$chromium" ]; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "ui_e2e_setup: need root (or sudo) to install chromium" >&2
    exit 1
  fi
fi

echo "ui_e2e_setup: installing chromium ..." >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# apt's progress and debconf chatter go to the log, which is shown only when something fails.
if ! { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "ui_e2e_setup: apt-get could not install chromium" >&2
  exit 1
fi
[ -x "$chromium" ] || { echo "ui_e2e_setup: chromium did not install at $chromium" >&2; exit 1; }
