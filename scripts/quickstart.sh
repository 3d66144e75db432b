#!/usr/bin/env bash
# Install what is needed and run the default experiment (the quickstart preset, about 6 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
selftaught run --out "runs/quickstart-$(date +%Y%m%d-%H%M%S)" "$@"
