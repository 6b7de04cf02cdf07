#!/usr/bin/env bash
# Runs one full training step (ConvNet w = 16 and 32 + linear head, batch 512 of 1x28x28,
# cross_entropy, backward, Adam) in the engine and in PyTorch on the same machine, one
# after the other with the same thread count, measures both sides' peak RSS the same way,
# profiles the engine's step per op, and writes bench/results/train-step-cpu-<date>.md.
# Run it on a quiet machine (nothing else compiling or running).
#   THREADS (default: nproc)   BUILD_DIR (default: build-bench)
#   TORCH_PYTHON (default: the newest PyTorch from PyPI, set up by bench/torch_peer.sh; never
#   a silent fallback to another torch)
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-$(nproc)}
BUILD_DIR=${BUILD_DIR:-build-bench}
# The peer: the newest PyTorch from PyPI (bench/torch_peer.sh creates its venv, and refuses a
# torch without optimised BLAS/oneDNN). TORCH_PYTHON overrides it, and is checked the same way.
TORCH_PYTHON=$(TORCH_PYTHON=${TORCH_PYTHON:-} bash bench/torch_peer.sh)

if [ -z "${SKIP_BUILD:-}" ]; then
  BUILD_DIR=$BUILD_DIR BUILD_TARGETS=bench_train_step CMAKE_ARGS="-DSC_BUILD_TESTS=OFF -DSC_BUILD_BENCH=ON" bash scripts/setup.sh
fi
bench="$BUILD_DIR/bench/bench_train_step"
tmp=$(mktemp -d)
export OMP_NUM_THREADS=$THREADS SC_BENCH_THREADS=$THREADS

echo "== simclr.cpp training step ($THREADS threads)"
"$bench" --benchmark_out="$tmp/ours.json" --benchmark_out_format=json
echo "== PyTorch training step ($TORCH_PYTHON, $THREADS threads)"
"$TORCH_PYTHON" bench/torch_train_step.py --threads "$THREADS" > "$tmp/torch.json"
cat "$tmp/torch.json"

# Peak RSS: one fresh process per side and width, doing only warm-up + steps.
for w in 16 32; do
  echo "== peak RSS, w = $w"
  "$bench" --memory="$w" > "$tmp/memory-ours-$w.json"
  "$TORCH_PYTHON" bench/torch_train_step.py --threads "$THREADS" --memory "$w" > "$tmp/memory-torch-$w.json"
  cat "$tmp/memory-ours-$w.json" "$tmp/memory-torch-$w.json"
  echo "== per-op profile, w = $w"
  "$bench" --profile="$w" > "$tmp/profile-$w.md"
done

out="bench/results/train-step-cpu-$(date -u +%Y-%m-%d).md"
/usr/bin/python3 bench/make_train_table.py "$tmp" "$TORCH_PYTHON" > "$out"
echo "== wrote $out"
cat "$out"
