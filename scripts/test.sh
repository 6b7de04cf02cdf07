#!/usr/bin/env bash
# The test command: set up a fresh machine if needed, build, and run the whole suite
# through CTest. Tests that need a GPU skip and say so when there is none.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
BUILD_TARGETS="sc_tests simclr_demo" CMAKE_ARGS="-DSC_BUILD_TESTS=ON ${CMAKE_ARGS:-}" bash scripts/setup.sh
echo "== running tests"
cd "$BUILD_DIR"
ctest --output-on-failure
