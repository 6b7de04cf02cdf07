#!/usr/bin/env bash
# Runs the CPU benchmarks of the engine and of PyTorch on the same machine, one after the
# other with the same thread count, and writes bench/results/cpu-<date>.md with the
# ratios. Run it on a quiet machine (nothing else compiling).
#   THREADS (default: nproc)   TORCH_PYTHON (default: the newest PyTorch from PyPI, set up
#   by bench/torch_peer.sh; never a silent fallback to another torch)
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-$(nproc)}
BUILD_DIR=${BUILD_DIR:-build-bench}
# The peer: the newest PyTorch from PyPI (bench/torch_peer.sh creates its venv, and refuses a
# torch without optimised BLAS/oneDNN). TORCH_PYTHON overrides it, and is checked the same way.
TORCH_PYTHON=$(TORCH_PYTHON=${TORCH_PYTHON:-} bash bench/torch_peer.sh)

BUILD_DIR=$BUILD_DIR BUILD_TARGETS=bench_ops CMAKE_ARGS="-DSC_BUILD_TESTS=OFF -DSC_BUILD_BENCH=ON" bash scripts/setup.sh
tmp=$(mktemp -d)
echo "== simclr.cpp ($THREADS threads)"
SC_BENCH_THREADS=$THREADS OMP_NUM_THREADS=$THREADS "$BUILD_DIR/bench/bench_ops" \
  --benchmark_out="$tmp/ours.json" --benchmark_out_format=json
echo "== PyTorch ($TORCH_PYTHON, $THREADS threads)"
OMP_NUM_THREADS=$THREADS "$TORCH_PYTHON" bench/torch_ops.py --threads "$THREADS" > "$tmp/torch.json"
cat "$tmp/torch.json"
out="bench/results/cpu-$(date -u +%Y-%m-%d).md"
/usr/bin/python3 bench/make_table.py "$tmp/ours.json" "$tmp/torch.json" > "$out"
echo "== wrote $out"
cat "$out"
