#!/usr/bin/env bash
# Install selftaught with its dev tools and the optional extras the tests need (hf, track, ray). The pinned CPU
# build of torch goes first: the package itself asks only for a range (torch>=2.4), which 2.13.0 satisfies, so pip does not pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q torch==2.13.0
python3 -m pip install -q -e ".[dev,hf,track,ray,syllabus]"
