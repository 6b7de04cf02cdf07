#!/usr/bin/env bash
# The main job: self-supervised pre-training on Fashion-MNIST, then the evaluation table.
#
#   1. installs what is missing and builds the `simclr` program (scripts/setup.sh);
#   2. `simclr train --recipe $RECIPE` (default main: the recipe is defined in code,
#      ssl/recipes.cpp, and `simclr train --help` lists them): SimCLR with a ConvNet w=16 and
#      a 128-d projection head, 3 epochs of batch 128 (256 views) on the 60,000 training
#      images, Adam lr 3e-3, NT-Xent at temperature 0.1, no labels used; a kNN monitor on
#      the test split after each epoch;
#   3. `simclr eval`: linear probe and kNN on the frozen encoder's features, fitted on
#      $EVAL_TRAIN_SUBSET training images (default 0: all 60,000, the full protocol) and scored
#      on the 10,000 test images, next to
#      two baselines: raw pixels and the same encoder with its random initial weights. The
#      table is also saved as eval.json and eval.md in the run folder.
#
# The run folder ($OUT, default runs/fashion-mnist) holds checkpoint.ckpt and
# checkpoint.prev.ckpt, metrics.jsonl, config.json, augment-preview.png, eval.json, eval.md
# (and loss/knn plots when gnuplot is installed). A folder that already holds a run is never
# overwritten: without OUT set, the next free runs/fashion-mnist-N is used.
#
# Knobs (environment): RECIPE (main, quick, R or vicreg), EPOCHS, TRAIN_SUBSET, EVAL_TRAIN_SUBSET (0 = all
# 60,000), THREADS (0 = all cores), OUT, BUILD_DIR. Extra arguments go to `simclr train`
# (for example --lr 1e-3 --temperature 0.5).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
RECIPE=${RECIPE:-main}
EVAL_TRAIN_SUBSET=${EVAL_TRAIN_SUBSET:-0}
THREADS=${THREADS:-0}
EXTRA_PACKAGES="gnuplot-nox" BUILD_TARGETS="simclr" CMAKE_ARGS="-DSC_BUILD_TESTS=OFF -DSC_BUILD_BENCH=OFF ${CMAKE_ARGS:-}" bash scripts/setup.sh

if [ -z "${OUT:-}" ]; then
  OUT=runs/fashion-mnist
  n=2
  while [ -e "$OUT/checkpoint.ckpt" ] || [ -e "$OUT/metrics.jsonl" ]; do
    OUT=runs/fashion-mnist-$n
    n=$((n + 1))
  done
fi

start=$(date +%s)
echo "== simclr train --recipe $RECIPE (out: $OUT)"
"$BUILD_DIR/simclr" train --recipe "$RECIPE" --out "$OUT" --threads "$THREADS" \
  ${EPOCHS:+--epochs "$EPOCHS"} ${TRAIN_SUBSET:+--train-subset "$TRAIN_SUBSET"} "$@"
fitted_on=$EVAL_TRAIN_SUBSET
[ "$fitted_on" = 0 ] && fitted_on="all 60,000"
echo "== simclr eval (probe/kNN fitted on $fitted_on training images, scored on the 10,000 test images)"
"$BUILD_DIR/simclr" eval --run "$OUT" --train-subset "$EVAL_TRAIN_SUBSET" --test-subset 0 --threads "$THREADS"
echo "== done in $(( $(date +%s) - start ))s; checkpoint, metrics, evaluation and preview in $OUT/"
