#!/usr/bin/env bash
# The slow packaging test: builds the bundle and runs its self-test (several minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
MANGACOLOR_SLOW=1 QT_QPA_PLATFORM=offscreen python3 -m pytest -m slow tests/test_packaging.py -v
