// The program tests/gdb/check_printers.sh runs under gdb to check the pretty-printers
// (tools/gdb/simclr_printers.py). It builds a small conv2d graph; gdb stops in the conv2d
// kernel, goes up into the op and prints its locals, then stops at stop_here() to print the
// finished graph. It is built at -O0 -g with its own copy of core/ops/conv2d.cpp (see
// tests/CMakeLists.txt), so the op's locals are visible even in a Release build of the library.
#include "core/ops.h"
#include "kernels/layout.h"
#include "kernels/pool.h"

using namespace sc;

// A place for a breakpoint: everything of interest is alive in main's frame when it runs.
__attribute__((noinline)) void stop_here() { asm volatile(""); }

int main() {
  // Values 0, 1, 2, ... so the printed values are known.
  Tensor x = arange(32).reshape({2, 1, 4, 4});
  Tensor weight = ones({3, 1, 3, 3}).requires_grad_();
  Conv2dOptions same;
  same.pad_h = same.pad_w = 1;
  Tensor y = conv2d(x, weight, Tensor(), same);
  Tensor loss = sum(relu(y));
  const Node& node = *y.grad_fn();
  // Naming the two Node classes puts their types in this program's debug info (the library's
  // autograd.cpp, which defines them, has none in a Release build).
  const bool op_node = dynamic_cast<const FunctionNode*>(&node) != nullptr;
  const bool leaf_node = dynamic_cast<const AccumulateGrad*>(node.next[1].get()) != nullptr;
  const TensorImpl& impl = *loss.impl();
  const Storage& storage = x.storage();
  Tensor column = x.narrow(3, 1, 1);  // a view: strides and an offset, values read through them
  kernels::Pool2dShape pool{2, 3, 4, 4, 2, 2, 2, 2, 0, 0, 2, 2};
  kernels::Layout layout{2, {2, 3}, {3, 1}};
  Tensor undefined;
  stop_here();
  loss.backward();
  return static_cast<int>(storage.nbytes() + pool.N + layout.ndim + undefined.defined() + impl.offset + node.next.size() + op_node + leaf_node) == 0;
}
