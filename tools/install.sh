#!/usr/bin/env bash
# Installs everything scratchdet needs into a virtual environment (default .venv), idempotently:
# a second run on a machine where it already ran only checks imports (a few seconds).
#
#   bash tools/install.sh            # creates/updates .venv
#   VENV=/path/to/env bash tools/install.sh
#   SCRATCHDET_PYTHON=$(which python) bash tools/install.sh   # use an existing interpreter, no venv
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${SCRATCHDET_PYTHON:-}" ]; then
  PY="$SCRATCHDET_PYTHON"
else
  VENV="${VENV:-.venv}"
  if [ ! -x "$VENV/bin/python" ]; then
    # --system-site-packages: a torch/detectron2 already installed on the machine (e.g. built from
    # source with CUDA ops on a GPU cluster) is reused instead of being replaced.
    PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
    "$PYTHON" -m venv --system-site-packages "$VENV"
  fi
  PY="$VENV/bin/python"
fi

pip_install() {
  # The local package mirrors print one "is ignored" line per missing folder: noise, not errors.
  "$PY" -m pip install --disable-pip-version-check -q "$@" 2>&1 | grep -v -e "is ignored: it is neither" || true
  return "${PIPESTATUS[0]}"
}

# torch and torchvision must be a matching pair, or torchvision fails at import with
# "operator torchvision::nms does not exist". These registry builds run without a GPU.
if ! "$PY" -c "import torch, torchvision.ops; torchvision.ops.nms(torch.zeros(1,4), torch.zeros(1), 0.5)" >/dev/null 2>&1; then
  echo "[install] torch 2.14.1 + torchvision 0.29.1"
  pip_install "torch==2.14.1" "torchvision==0.29.1"
fi

# detectron2: use an importable one (e.g. built from source with its CUDA ops); otherwise the
# registry's Python sources (sal-detectron2, a cp310 wheel) without its compiled _C, which was
# built for another Python. Everything scratchdet needs runs without _C.
if ! "$PY" -c "import detectron2.engine" >/dev/null 2>&1; then
  echo "[install] detectron2 Python sources (sal-detectron2==0.7.2, without _C)"
  SITE=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  TMP=$(mktemp -d)
  pip_install --no-deps --only-binary=:all: --python-version 3.10 --implementation cp \
    --target "$TMP" "sal-detectron2==0.7.2"
  rm -f "$TMP"/detectron2/_C*.so
  # Only the detectron2 package itself: the wheel also carries a top-level "tools" package,
  # which would shadow other code named tools.
  rm -rf "$SITE/detectron2"
  cp -r "$TMP/detectron2" "$SITE/"
  rm -rf "$TMP"
fi

if ! "$PY" -c "import fvcore, pycocotools, cv2, scipy, faster_coco_eval, pytest, matplotlib, tensorboard, yacs, omegaconf, hydra, tifffile, shapely, onnx, onnxruntime" >/dev/null 2>&1; then
  echo "[install] detectron2's and scratchdet's dependencies"
  pip_install -r requirements.txt
fi
# Checked by its metadata: "import scratchdet" would succeed from the repository folder anyway.
if ! "$PY" -c "import importlib.metadata as m; m.version('scratchdet')" >/dev/null 2>&1; then
  pip_install --no-deps --no-build-isolation -e .
fi
"$PY" -c "import scratchdet, detectron2, torch; print('[install] ok: torch', torch.__version__, '| detectron2', detectron2.__version__, '| scratchdet', scratchdet.__version__)"
