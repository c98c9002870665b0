#!/usr/bin/env bash
# Build the one-folder desktop bundle and run its self-test.
#   bash packaging/build.sh            -> dist/mangacolor/mangacolor (+ _internal/)
# Needs: pip install -e ".[packaging]" (PyInstaller). Takes several minutes; the bundle size is
# dominated by the torch build installed (CUDA builds: several GB; see packaging/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
STAGE=build/stage
rm -rf "$STAGE"
mkdir -p "$STAGE/mangacolor"
cp -r app "$STAGE/mangacolor/app"
cp -r core "$STAGE/mangacolor/core"
cp -r resources "$STAGE/mangacolor/resources"
find "$STAGE" -name __pycache__ -prune -exec rm -rf {} +
export MANGACOLOR_STAGE="$PWD/$STAGE"
python3 -m PyInstaller --noconfirm --clean --log-level WARN --distpath dist --workpath build/pyinstaller \
    packaging/mangacolor.spec
echo "bundle: dist/mangacolor ($(du -sh dist/mangacolor | cut -f1))"
QT_QPA_PLATFORM=offscreen dist/mangacolor/mangacolor --self-test
# the same executable runs the command line
rm -rf build/bundle-check
dist/mangacolor/mangacolor colorize --sample -o build/bundle-check --no-score
test -f build/bundle-check/sample_page.png && echo "bundle command line: ok"
