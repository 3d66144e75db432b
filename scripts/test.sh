#!/usr/bin/env bash
# Install what is needed, check the import layers (import-linter contracts in pyproject.toml), and run the whole
# test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# import-linter through the interpreter that has it (its lint-imports script may sit outside PATH)
python3 -c "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
python3 -m pytest tests
