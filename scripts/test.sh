#!/usr/bin/env bash
# Install what is needed and run the whole test suite (about 2 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
python3 -m pytest tests
