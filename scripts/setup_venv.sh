#!/usr/bin/env bash
# Creates .venv (if missing) and installs seqtune with its ML, evaluation and dev extras.
# torch is pinned through constraints.txt only when the venv has no torch yet: a torch the user
# already installed (for example a CUDA build) is never replaced.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.seqtune-installed"
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ] && [ "$stamp" -nt constraints.txt ]; then
  exit 0
fi
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
if "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  grep -v '^torch==' constraints.txt >"$constraints"
else
  cp constraints.txt "$constraints"
fi
"$VENV/bin/python" -m pip install -q -c "$constraints" -e ".[ml,eval,dev]"
touch "$stamp"
