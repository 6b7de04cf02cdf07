#!/usr/bin/env bash
# The main-job command. Until the SimCLR trainer lands (issue: SimCLR training and the
# `simclr` command) this builds the engine and runs its demo: a small MLP trained with
# SGD on synthetic data, printing the loss as it falls.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
BUILD_TARGETS="simclr_demo" CMAKE_ARGS="-DSC_BUILD_TESTS=OFF -DSC_BUILD_BENCH=OFF ${CMAKE_ARGS:-}" bash scripts/setup.sh
"$BUILD_DIR/simclr_demo" "$@"
