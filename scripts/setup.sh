#!/usr/bin/env bash
# Installs what simclr.cpp needs on a fresh Debian machine (when missing), then
# configures and builds. Used by scripts/test.sh and scripts/run.sh.
#   BUILD_DIR (default: build)   SC_CUDA (AUTO|ON|OFF, default AUTO)   SC_ONNX (AUTO|ON|OFF, default AUTO)
#   SC_MPI (AUTO|ON|OFF, default AUTO)
#   JOBS (default: nproc)
#   EXTRA_PACKAGES: more Debian packages a caller needs (scripts/run.sh: gnuplot-nox for its plots;
#   scripts/build_sanitized.sh: clang, ...)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(cmake make g++ libeigen3-dev doctest-dev libbenchmark-dev zlib1g-dev libpng-dev libjpeg-dev libstb-dev
          libcli11-dev nlohmann-json3-dev dataset-fashion-mnist
          libonnx-dev libprotobuf-dev  # these two: `simclr export --format onnx` (SC_ONNX, cmake/onnx.cmake)
          libopenmpi-dev openmpi-bin)  # these two: data-parallel training and its tests (SC_MPI, cmake/mpi.cmake)
read -r -a extra <<< "${EXTRA_PACKAGES:-}"
packages+=("${extra[@]}")
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi

# nvcc lives outside PATH in the standard toolkit location.
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi

BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
echo "== configuring ($BUILD_DIR)"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DSC_CUDA="${SC_CUDA:-AUTO}" -DSC_ONNX="${SC_ONNX:-AUTO}" -DSC_MPI="${SC_MPI:-AUTO}" ${CMAKE_ARGS:-}
echo "== building with $JOBS jobs"
cmake --build "$BUILD_DIR" -j "$JOBS" ${BUILD_TARGETS:+--target $BUILD_TARGETS}
