#!/usr/bin/env bash
# CTest "install_consumer": installs the build to a temporary prefix, builds
# examples/consumer against it with find_package(simclr), runs it, and checks the
# pkg-config file names the installed libraries.
#   tests/install_consumer.sh <build dir> <source dir>
set -euo pipefail
build=$1
source=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log"
test -f "$tmp/prefix/include/simclr/core/tensor.h"
test -f "$tmp/prefix/lib/cmake/simclr/simclrConfig.cmake"
test -x "$tmp/prefix/bin/simclr"
"$tmp/prefix/bin/simclr" --version
grep -q -- "-lsimclr_ssl" "$tmp/prefix/lib/pkgconfig/simclr.pc"
cmake -S "$source/examples/consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release > "$tmp/configure.log"
cmake --build "$tmp/consumer" -j 2 > "$tmp/build.log" || { cat "$tmp/build.log"; exit 1; }
# The consumer's compile line must not inherit -march=native from the library.
if grep -rq -- "-march=native" "$tmp/consumer/CMakeFiles/consumer.dir/flags.make"; then
  echo "error: the installed targets leak -march=native"; exit 1
fi
"$tmp/consumer/consumer" "$tmp/run"
test -f "$tmp/run/checkpoint.ckpt"
echo "install_consumer: OK"
