#!/usr/bin/env bash
# Install what is needed, check the import layers (import-linter contracts in pyproject.toml), and run the whole
# test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
lint-imports
python3 -m pytest tests
