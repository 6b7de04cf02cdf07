#!/usr/bin/env bash
# CTest gdb_printers: runs tests/gdb/printers_demo.cpp under gdb in batch mode, stops inside
# conv2d and checks what the pretty-printers print, once auto-loaded from the program's
# .debug_gdb_scripts section and once loaded by hand with `source`.
#   check_printers.sh <printers_demo binary> <repository root>
# Exit 77 (CTest: skipped) when gdb, or gdb's Python, is not installed.
set -uo pipefail
demo=$1
root=$2
printers="$root/tools/gdb/simclr_printers.py"
if ! command -v gdb >/dev/null 2>&1; then
  echo "skipped: gdb is not installed (apt-get install gdb)"
  exit 77
fi
if ! gdb -nx -batch -ex 'python import gdb.printing' >/dev/null 2>&1; then
  echo "skipped: this gdb has no Python support"
  exit 77
fi

expected=(
  # In the op, from its own locals.
  'sc::Tensor float32[2, 1, 4, 4] on cpu, strides [16, 16, 4, 1] = {0, 1, 2, 3, 4, 5, 6, 7, ...}'
  'sc::Tensor float32[3, 1, 3, 3] on cpu, strides [9, 9, 3, 1], requires_grad = {1, 1, 1, 1, 1, 1, 1, 1, ...}'
  'sc::kernels::Conv2dShape x[N=2, C=1, H=4, W=4] * w[O=3, C, KH=3, KW=3], stride 1x1, pad 1x1, dilation 1x1 -> y[2, 3, 4, 4], im2col K=9 x P=16'
  # In main, after the graph is built.
  'sc::Tensor float32[2, 3, 4, 4] on cpu, strides [48, 16, 4, 1], grad_fn "conv2d" = {'
  'sc::Tensor float32[] on cpu, strides [], grad_fn "sum" = {'
  'sc::Tensor float32[2, 1, 4, 1] on cpu, strides [16, 16, 4, 1], offset 1 = {1, 5, 9, 13, 17, 21, 25, 29}'
  'sc::Storage 128 bytes on cpu, version 0, data 0x'
  'sc::FunctionNode "conv2d" -> float32[2, 3, 4, 4], inputs [none, AccumulateGrad float32[3, 1, 3, 3], -]'
  'sc::TensorImpl float32[] on cpu, strides [], grad_fn "sum"'
  'sc::kernels::Pool2dShape x[N=2, C=3, H=4, W=4], window 2x2, stride 2x2, pad 0x0 -> y[2, 3, 2, 2]'
  'sc::kernels::Layout sizes [2, 3], strides [3, 1]'
  'sc::Tensor (undefined)'
  '= float32[2, 3, 4, 4]'
  # In the backward lambda of conv2d, called by loss.backward().
  'sc::SavedTensor float32[2, 1, 4, 4] on cpu, strides [16, 16, 4, 1] = {0, 1, 2, 3, 4, 5, 6, 7, ...}, saved at version 0'
  'sc::SavedTensor (empty)'
  'sc::Tensor float32[2, 3, 4, 4] on cpu, strides [48, 16, 4, 1] = {1, 1, 1, 1, 1, 1, 1, 1, ...}'
)

run_gdb() {  # $1: how the printers get loaded (a description), then gdb's own options
  local how=$1
  shift
  local out
  out=$(gdb -nx -batch "$@" -x "$root/tests/gdb/printers.gdb" "$demo" 2>&1)
  local failed=0
  for line in "${expected[@]}"; do
    if ! grep -qF -- "$line" <<<"$out"; then
      echo "FAIL ($how): expected a line containing: $line"
      failed=1
    fi
  done
  if [ $failed -ne 0 ]; then
    echo "---- gdb output ($how) ----"
    echo "$out"
    return 1
  fi
  echo "ok ($how): ${#expected[@]} printed values as expected"
}

status=0
run_gdb "auto-loaded from .debug_gdb_scripts" -iex "add-auto-load-safe-path $root/tools/gdb" || status=1
run_gdb "loaded by hand with source" -iex "set auto-load python-scripts off" -ex "source $printers" || status=1
exit $status
