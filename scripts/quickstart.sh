#!/usr/bin/env bash
# Install what is needed and run the default experiment (the quickstart preset).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
selftaught run "$@"  # into runs/<run id>: the directory and the run id share one timestamp
