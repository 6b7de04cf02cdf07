#!/usr/bin/env bash
# Builds the clang tree with AddressSanitizer + UndefinedBehaviorSanitizer and the libFuzzer
# targets (-DSC_FUZZ=ON), installing clang and its runtimes first when missing. Shared by
# scripts/sanitize.sh and scripts/fuzz.sh: both use the same folder, so CI compiles the
# libraries once for the two stages.
#   bash scripts/build_sanitized.sh TARGET...     BUILD_DIR (default build-sanitize), JOBS
set -euo pipefail
cd "$(dirname "$0")/.."
# clang, its sanitizer and libFuzzer runtimes (libclang-rt-dev), OpenMP for clang (libomp-dev),
# and llvm-symbolizer (llvm) so reports show file:line.
BUILD_DIR=${BUILD_DIR:-build-sanitize} SC_CUDA=OFF BUILD_TARGETS="$*" \
  EXTRA_PACKAGES="clang libclang-rt-dev libomp-dev llvm ${EXTRA_PACKAGES:-}" \
  CMAKE_ARGS="-DCMAKE_CXX_COMPILER=clang++ -DSC_FUZZ=ON -DSC_BUILD_TESTS=ON -DSC_BUILD_BENCH=OFF ${CMAKE_ARGS:-}" \
  bash scripts/setup.sh
