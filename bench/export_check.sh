#!/usr/bin/env bash
# The README's export numbers: trains a ConvNet (w = 16, the quick recipe) and a ResNet-18
# (width 64) for a few steps on Fashion-MNIST, so BatchNorm has real running statistics,
# exports each as ONNX and as safetensors, and compares onnxruntime's and PyTorch's features
# with `simclr embed`'s on the first 500 test images (pixels / 255). Prints a Markdown table.
#   BUILD_DIR (default build; built with ONNX), OUT (default /tmp/sc-export-check),
#   TORCH_PYTHON (default /usr/bin/python3, Debian's python3-torch)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
OUT=${OUT:-/tmp/sc-export-check}
TORCH_PYTHON=${TORCH_PYTHON:-/usr/bin/python3}
simclr="$BUILD_DIR/simclr"
ORT_PYTHON=$(bash tests/python_env.sh)
rm -rf "$OUT" && mkdir -p "$OUT"

# The images `simclr embed --split test --subset 500` sees, as .npy.
"$ORT_PYTHON" - "$OUT/images.npy" <<'PY'
import gzip, sys, numpy as np
raw = gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").read()
images = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 1, 28, 28)[:500]
np.save(sys.argv[1], (images / np.float32(255)).astype(np.float32))
PY

train() {  # name, then training flags
  local name=$1; shift
  "$simclr" train --out "$OUT/$name" --knn-k 0 --quiet "$@" > /dev/null
  "$simclr" embed --run "$OUT/$name" --split test --subset 500 --out "$OUT/$name/features.npy" > /dev/null
  "$simclr" export --run "$OUT/$name" --format onnx --out "$OUT/$name/encoder.onnx" > /dev/null
  "$simclr" export --run "$OUT/$name" --out "$OUT/$name/encoder.safetensors" > /dev/null
}
train convnet-w16 --steps 20
train resnet18-w64 --encoder resnet18 --width 64 --batch-size 32 --steps 3

echo "| encoder | runtime | max abs difference | max abs feature |"
echo "|---|---|---|---|"
for name in convnet-w16 resnet18-w64; do
  "$ORT_PYTHON" bench/export_check.py onnx "$OUT/$name/encoder.onnx" "$OUT/images.npy" "$OUT/$name/features.npy"
  "$TORCH_PYTHON" bench/export_check.py torch "$OUT/$name/encoder.safetensors" "$OUT/images.npy" "$OUT/$name/features.npy"
done
