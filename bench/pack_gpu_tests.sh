#!/usr/bin/env bash
# Builds the whole test program here, with the CUDA backend, and packs it for the GPU machine.
# That machine cannot build it: it has no zlib, libpng, libjpeg, nlohmann-json, CLI11 or stb
# headers and no package registry, so bench/gpu_check.sh builds only core/ and nn/ there. The
# tests above those layers that need a GPU (the "cuda: trainer" cases: a CUDA training run,
# --augment-device cuda) run from this program instead:
#
#   .deps/full/sc_tests    sc_tests with ssl/ and augment/, CUDA arch 90, stripped
#   .deps/full/lib/        the shared libraries it needs that are neither glibc's nor CUDA's
#                          (libgomp, libpng, libjpeg, zlib, stb): the GPU machine's libc is as
#                          new or newer than this Debian's (2.36), which is what a binary built
#                          here needs; libstdc++ is left to that machine (newer there)
#   .deps/full/COMMIT      the commit it was built from
#
# Built without -march=native (the GPU machine's CPU is another one), MPI and ONNX (fewer
# libraries to carry). gpu_check.sh runs it in its "trainer" phase when it is there.
#
# Usage: bash bench/pack_deps.sh && bash bench/pack_gpu_tests.sh, then carry .deps
#   (BUILD_DIR default build-gpu-pack, JOBS default nproc; about 10 minutes on 2 cores)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$repo/build-gpu-pack}
jobs=${JOBS:-$(nproc)}
out=$repo/.deps/full

if [[ ! -d $repo/.deps ]]; then
  echo "pack_gpu_tests: run bench/pack_deps.sh first (it makes .deps/ and keeps it out of git)" >&2
  exit 1
fi
if ! command -v nvcc >/dev/null && [[ ! -x /usr/local/cuda/bin/nvcc ]]; then
  echo "pack_gpu_tests: no nvcc (the CUDA toolkit is needed to build the CUDA backend)" >&2
  exit 1
fi

cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSC_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DSC_NATIVE=OFF \
  -DSC_MPI=OFF -DSC_ONNX=OFF -DSC_BUILD_TESTS=ON -DSC_BUILD_BENCH=OFF -DSC_BUILD_EXAMPLES=OFF -DSC_GDB_AUTOLOAD=OFF >/dev/null
cmake --build "$build" -j "$jobs" --target sc_tests

rm -rf "$out"
mkdir -p "$out/lib"
strip -o "$out/sc_tests" "$build/tests/sc_tests"
# Every library the loader resolves that is not glibc's, the C++ runtime's or CUDA's.
ldd "$build/tests/sc_tests" | awk '$3 ~ /^\// {print $1, $3}' | while read -r name path; do
  case $name in
    libc.so* | libm.so* | libdl.so* | libpthread.so* | librt.so* | libgcc_s.so* | libstdc++.so* | ld-linux*) ;;
    libcuda.so* | libcudart.so* | libcublas*.so* | libcudnn*.so* | libnccl.so* | libnvrtc*.so*) ;;
    *) cp -L "$path" "$out/lib/$name" ;;
  esac
done
if git -C "$repo" rev-parse --short HEAD >/dev/null 2>&1; then
  commit=$(git -C "$repo" rev-parse --short HEAD)
  changed=$(git -C "$repo" status --porcelain --untracked-files=no | wc -l)
  ((changed == 0)) || commit="$commit + $changed uncommitted file(s)"
  echo "$commit" >"$out/COMMIT"
fi
echo "pack_gpu_tests: $(du -sh "$out" | cut -f1) in $out: sc_tests and $(ls "$out/lib" | wc -l) libraries ($(ls "$out/lib" | tr '\n' ' '))"
