#!/usr/bin/env bash
# Install ponder with the test extras, then run the whole default suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test
exec .venv/bin/python -m pytest "$@"
