#!/usr/bin/env bash
# The CPU code under AddressSanitizer + UndefinedBehaviorSanitizer (clang): the whole test
# suite through CTest, then the `simclr` program end to end on a small slice of
# Fashion-MNIST: train a few steps, resume, evaluate, embed, export. Any sanitizer report
# aborts the program that hit it, so this script fails.
#   bash scripts/sanitize.sh      BUILD_DIR (default build-sanitize, shared with fuzz.sh),
#                                 OUT (default out/sanitize), JOBS
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-sanitize}
OUT=${OUT:-out/sanitize}
export BUILD_DIR

start=$(date +%s)
bash scripts/build_sanitized.sh sc_tests simclr
built=$(date +%s)

# detect_leaks: a leak fails the run too. The libraries are instrumented, the system's are not.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:symbolize=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

echo "== the test suite under ASan + UBSan"
# Only the tests this build makes: the doctest suite and the source checks. The examples,
# the gdb printer check (about the printers, built -O0 -g on purpose) and the install test
# (which links an uninstrumented consumer) belong to the normal build.
(cd "$BUILD_DIR" && ctest --output-on-failure -R '^(sc_tests|tour|layering|layering_catches_an_upward_include)$')
tested=$(date +%s)

echo "== simclr train / resume / eval / embed / export under ASan + UBSan"
simclr=$BUILD_DIR/simclr
rm -rf "$OUT" && mkdir -p "$OUT"
small=(--train-subset 512 --test-subset 256)
"$simclr" train --out "$OUT/run" "${small[@]}" --width 4 --projection-dim 16 --batch-size 32 --steps 3 \
  --knn-k 10 --knn-bank 256 --workers 2
"$simclr" train --resume "$OUT/run" --steps 5
"$simclr" eval --run "$OUT/run" "${small[@]}" --epochs 2 --knn-k 10
"$simclr" embed --run "$OUT/run" --subset 64 --out "$OUT/features.npy"
"$simclr" export --run "$OUT/run" --out "$OUT/encoder.safetensors"
done_at=$(date +%s)

echo "== sanitizers: clean. build $((built - start)) s, test suite $((tested - built)) s, simclr $((done_at - tested)) s," \
     "total $((done_at - start)) s"
