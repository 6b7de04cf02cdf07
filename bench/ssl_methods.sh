#!/usr/bin/env bash
# The methods table: every method on Fashion-MNIST with the same encoder and budget, ours
# (`simclr train` + `simclr eval`, full protocol: probe and kNN fitted on all 60,000
# training images) next to its PyTorch twin (bench/torch_ssl_methods.py, the newest
# PyTorch from PyPI via bench/torch_peer.sh), one after the other, same threads. Writes
# bench/results/ssl-methods-<date>.md. Run it on a quiet machine.
#
#   METHODS (default: all six)  SEEDS (default: "0 1")  EPOCHS (default 1)  THREADS (default 2)
#   TRAIN_SUBSET (default 0 = all 60,000)  EVAL_TRAIN_SUBSET (default 0 = all; smaller only for
#   a smoke test of this script)  BUILD_DIR (default build)  WORK (default /tmp/ssl-methods)
#
# The recipe is R's (ssl/recipes.cpp): ConvNet w=16, batch 256, Adam lr 1e-3, weight decay
# 1e-6, half an epoch of warmup then cosine, 128-d embedding, each method's own defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
METHODS=${METHODS:-"simclr byol simsiam mocov3 barlowtwins vicreg"}
SEEDS=${SEEDS:-"0 1"}
EPOCHS=${EPOCHS:-1}
THREADS=${THREADS:-2}
TRAIN_SUBSET=${TRAIN_SUBSET:-0}
EVAL_TRAIN_SUBSET=${EVAL_TRAIN_SUBSET:-0}
BUILD_DIR=${BUILD_DIR:-build}
WORK=${WORK:-/tmp/ssl-methods}
TORCH_PYTHON=$(bash bench/torch_peer.sh)
BUILD_DIR=$BUILD_DIR BUILD_TARGETS=simclr CMAKE_ARGS="-DSC_BUILD_TESTS=OFF -DSC_BUILD_BENCH=OFF" bash scripts/setup.sh
mkdir -p "$WORK"
git rev-parse --short HEAD > "$WORK/commit.txt"  # the commit the binary was built from, read by the table
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$WORK/load.txt"
first=1
for seed in $SEEDS; do
  for method in $METHODS; do
    run="$WORK/ours-$method-$seed"
    rm -rf "$run"
    echo "== ours: $method seed $seed"
    start=$(date +%s.%N)
    "$BUILD_DIR/simclr" train --recipe R --method "$method" --epochs "$EPOCHS" --seed "$seed" --threads "$THREADS" \
      --train-subset "$TRAIN_SUBSET" --knn-k 0 --log-every 50 --out "$run"
    awk "BEGIN { print $(date +%s.%N) - $start }" > "$run/train_seconds.txt"
    baselines="--no-baselines"
    [ "$first" = 1 ] && baselines=""  # raw pixels and the random encoder once: they do not depend on the method
    "$BUILD_DIR/simclr" eval --run "$run" --train-subset "$EVAL_TRAIN_SUBSET" --test-subset 0 --threads "$THREADS" $baselines
    first=0
    echo "== PyTorch: $method seed $seed"
    OMP_NUM_THREADS=$THREADS "$TORCH_PYTHON" bench/torch_ssl_methods.py --method "$method" --epochs "$EPOCHS" \
      --seed "$seed" --threads "$THREADS" --train-subset "$TRAIN_SUBSET" --eval-train-subset "$EVAL_TRAIN_SUBSET" \
      --out "$WORK/torch-$method-$seed.json"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$WORK/load.txt"
out="bench/results/ssl-methods-$(date -u +%Y-%m-%d).md"
/usr/bin/python3 bench/make_methods_table.py "$WORK" "$EPOCHS" "$TRAIN_SUBSET" "$THREADS" "$EVAL_TRAIN_SUBSET" > "$out"
echo "== wrote $out"
cat "$out"
