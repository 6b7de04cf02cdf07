#!/usr/bin/env bash
# The test command: set up a fresh machine if needed, build, and run the whole suite
# through CTest. Tests that need a GPU skip and say so when there is none.
# The ONNX test runs the exported encoder in onnxruntime, from PyPI: tests/python_env.sh puts
# it in a virtual environment (SC_PYENV, default /opt/sc-pyenv) first. SC_PYTHON_TESTS=0 skips
# that step (the test then skips too, saying so).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
BUILD_TARGETS="sc_tests simclr_demo" CMAKE_ARGS="-DSC_BUILD_TESTS=ON ${CMAKE_ARGS:-}" bash scripts/setup.sh
if [ "${SC_PYTHON_TESTS:-1}" != 0 ]; then
  echo "== python for the ONNX test (onnxruntime)"
  bash tests/python_env.sh > /dev/null || {
    echo "error: could not set up onnxruntime for the ONNX test (tests/python_env.sh);"
    echo "       SC_PYTHON_TESTS=0 runs the suite without it (that test then skips)"
    exit 1
  }
fi
echo "== running tests"
cd "$BUILD_DIR"
ctest --output-on-failure
