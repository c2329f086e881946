#!/usr/bin/env bash
# The API reference, generated from the docstrings by pdoc (Google style; offline, no configuration):
#   bash docs/build_api.sh [OUT]        # default OUT: docs/api; open OUT/index.html
# pdoc imports the modules it documents, so the extras they use must be installed (.ci/setup installs them all).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/api}
python=${PYTHON:-.venv/bin/python}
[ -x "$python" ] || python=python3
exec "$python" -m pdoc --docformat google --no-show-source -o "$out" \
  omnitok omnitok.quantizers omnitok.ops omnitok.models omnitok.nn omnitok.modalities omnitok.unified \
  omnitok.corpus omnitok.metrics omnitok.evaluation omnitok.report omnitok.adapters omnitok.semantic omnitok.data \
  omnitok.trainers
