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
    exec "$venv/bin/python" -m pytest "$@"
    ;;
  *)
    exec "$venv/bin/nodeloom" "$cmd" "$@"
    ;;
esac
