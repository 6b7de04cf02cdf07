#!/usr/bin/env bash
# Runs the augmentation throughput benchmark: the engine's threaded Loader with the
# simclr-gray (Fashion-MNIST 28x28) and simclr-rgb (synthetic 3x32x32) presets, then
# torchvision's same pipelines through a DataLoader with as many workers, one after the
# other on the same machine, and writes bench/results/augment-cpu-<date>.md with the ratio
# against the 3x target and the loader's wait per batch (set beside the training step's
# time when a bench/results/train-step-cpu-*.md exists).
# Run it on a quiet machine (nothing else compiling or running).
#   THREADS (default: nproc): loader worker threads = DataLoader worker processes
#   BUILD_DIR (default: build-bench)   SKIP_BUILD=1: use the bench_augment already built
#   TORCH_PYTHON (default: /usr/bin/python3, Debian's python3-torch + python3-torchvision;
#     the PyPI venv /opt/torch-bench has no torchvision for its torch version)
#   OUT (default: bench/results/augment-cpu-<date>.md)
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-$(nproc)}
BUILD_DIR=${BUILD_DIR:-build-bench}
TORCH_PYTHON=${TORCH_PYTHON:-/usr/bin/python3}
OUT=${OUT:-bench/results/augment-cpu-$(date -u +%Y-%m-%d).md}

if ! "$TORCH_PYTHON" -c "import torch, torchvision" 2>/dev/null; then
  echo "augment_bench.sh: $TORCH_PYTHON cannot import torch and torchvision" \
       "(Debian: apt-get install python3-torch python3-torchvision)" >&2
  exit 1
fi

if [ -z "${SKIP_BUILD:-}" ]; then
  BUILD_DIR=$BUILD_DIR BUILD_TARGETS=bench_augment \
    CMAKE_ARGS="-DSC_BUILD_TESTS=OFF -DSC_BUILD_BENCH=ON ${CMAKE_ARGS:-}" bash scripts/setup.sh
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== simclr.cpp loader ($THREADS workers)"
SC_BENCH_THREADS=$THREADS OMP_NUM_THREADS=1 "$BUILD_DIR/bench/bench_augment" \
  --benchmark_out="$tmp/ours.json" --benchmark_out_format=json
echo "== torchvision ($TORCH_PYTHON, $THREADS workers)"
OMP_NUM_THREADS=1 "$TORCH_PYTHON" bench/torch_augment.py --threads "$THREADS" > "$tmp/torch.json"
cat "$tmp/torch.json"

# The newest training-step result, if any, for the "does the loader keep up" note.
train_step=$(ls -1 bench/results/train-step-cpu-*.md 2>/dev/null | sort | tail -n 1 || true)
mkdir -p "$(dirname "$OUT")"
/usr/bin/python3 bench/make_augment_table.py "$tmp/ours.json" "$tmp/torch.json" "$train_step" > "$OUT"
echo "== wrote $OUT"
cat "$OUT"
