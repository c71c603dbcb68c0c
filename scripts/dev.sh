#!/usr/bin/env bash
# Set up a virtual environment in .venv (once, or again when pyproject.toml changes) and then
#   scripts/dev.sh serve [nodeloom serve options]   start the server (default data dir)
#   scripts/dev.sh test  [pytest options]           run the test suite
#   scripts/dev.sh <any nodeloom subcommand> ...
# NODELOOM_TORCH_SPEC picks the torch requirement (default: the CPU-friendly pin torch==2.13.0;
# set e.g. NODELOOM_TORCH_SPEC='torch>=2.2' to keep whatever CUDA build your index serves).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
torch_spec=${NODELOOM_TORCH_SPEC:-torch==2.13.0}
python=${PYTHON:-python3}
extras=test
stamp="$venv/.nodeloom-setup"
want="$(cat pyproject.toml; echo "$torch_spec $extras")"
want_hash=$(printf '%s' "$want" | sha256sum | cut -d' ' -f1)

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want_hash" ]; then
  echo "setting up $venv ..." >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >&2
  # torch first and pinned, so the project's looser 'torch>=' requirement is already satisfied
  # and pip never reaches for a multi-GB build.
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "$torch_spec" >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -e ".[$extras]" >&2
  printf '%s' "$want_hash" > "$stamp"
fi

cmd=${1:-serve}
shift || true
case "$cmd" in
  test)
    # The browser tests need Debian's chromium and the built UI; both are installed here so a
    # fresh machine passes with this one command. NODELOOM_REQUIRE_BROWSER=0 lets them skip.
    export NODELOOM_REQUIRE_BROWSER=${NODELOOM_REQUIRE_BROWSER:-1}
    scripts/ui_e2e_setup.sh || echo "chromium could not be installed: browser tests will fail or skip" >&2
    "$venv/bin/python" -m nodeloom.plugins.ui.build >&2
    exec "$venv/bin/python" -m pytest "$@"
    ;;
  serve)
    # Builds the web UI when its sources are newer than the bundle; without npm the server still
    # starts and / explains how to build it.
    "$venv/bin/python" -m nodeloom.plugins.ui.build >&2 || echo "web UI build failed; serving the API only" >&2
    exec "$venv/bin/nodeloom" serve "$@"
    ;;
  *)
    exec "$venv/bin/nodeloom" "$cmd" "$@"
    ;;
esac
