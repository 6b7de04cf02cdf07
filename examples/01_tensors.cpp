// Example 1: tensors, views and broadcasting. No training yet: what a Tensor is.
//
// A Tensor is a handle: shape, strides and an offset over a shared block of memory (Storage).
// Many ops only make a new handle (a view) over the same memory, which is why they cost
// nothing, and why writing through one view shows up in the others. Broadcasting lets
// [3, 1] + [4] work without copying either operand: the kernel reads the small one with
// stride 0 along the dims it is repeated on.
//
//   example_01_tensors
#include <cstdio>
#include <iostream>

#include "core/ops.h"

using namespace sc;

// The handle, then the values.
void show(const char* what, const Tensor& t) {
  std::printf("%-28s %-22s strides %-14s offset %lld  contiguous %s\n", what, t.describe().c_str(),
              shape_str(t.strides()).c_str(), static_cast<long long>(t.offset()), t.is_contiguous() ? "yes" : "no");
}

int main() {
  // 0, 1, ..., 11 as a [3, 4] matrix: row-major, so moving one row skips 4 elements.
  Tensor a = arange(12).reshape({3, 4});
  show("a = arange(12) [3, 4]", a);
  std::cout << a << "\n\n";

  // Views: new shape and strides over the same storage, no copy.
  Tensor at = a.t();                 // transpose: strides swap, [1, 4]
  Tensor col = a.narrow(1, 2, 1);    // column 2: offset 2, still stride 4 between rows
  Tensor flat = a.reshape({12});     // contiguous, so reshape is a view too
  show("a.t()", at);
  show("a.narrow(1, 2, 1)", col);
  show("a.reshape({12})", flat);
  std::printf("same storage: %s\n\n", &at.storage() == &a.storage() && &col.storage() == &a.storage() ? "yes" : "no");

  // Writing through a view writes the shared memory: the column shows up in `a`.
  col.fill_(-1);
  std::cout << "after a.narrow(1, 2, 1).fill_(-1):\n" << a << "\n\n";

  // A kernel wants a plain block: contiguous() copies a strided view into fresh memory (and
  // returns the tensor itself when it is already contiguous).
  Tensor at_copy = at.contiguous();
  show("a.t().contiguous()", at_copy);
  std::printf("a.contiguous() is a itself: %s\n\n", a.contiguous().impl() == a.impl() ? "yes" : "no");

  // Broadcasting, NumPy's rules: align shapes on the right; a dim of 1 stretches to match.
  Tensor rows = from_vector(std::vector<float>{10, 20, 30}, {3, 1});
  Tensor cols = from_vector(std::vector<float>{1, 2, 3, 4}, {4});
  Tensor grid = rows + cols;  // [3, 1] + [4] -> [3, 4]
  std::cout << "[3, 1] + [4] =\n" << grid << "\n\n";
  // What the kernel sees for `rows`: expand() makes that stretched view explicitly, stride 0
  // on the repeated dim. Twelve elements, three values in memory.
  show("rows.expand({3, 4})", rows.expand({3, 4}));

  // Reductions pick dims; keepdim keeps them as size 1, ready to broadcast back.
  Tensor row_sums = sum(grid, {1}, /*keepdim=*/true);  // [3, 1]
  std::cout << "\nrow sums " << row_sums.shape_string() << ":\n" << row_sums << "\n";
  std::cout << "each row minus its mean:\n" << (grid - mean(grid, {1}, true)) << "\n\n";

  // Shapes that cannot broadcast are an error that names the op and both shapes.
  try {
    add(zeros({3, 4}), zeros({3}));
  } catch (const Error& e) {
    std::printf("add([3, 4], [3]) -> sc::Error: %s\n", e.what());
  }
  return 0;
}
