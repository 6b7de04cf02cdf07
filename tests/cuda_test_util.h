#pragma once
// Helpers for the CUDA tests (tests/test_cuda_*.cpp).
//
// Every CUDA test case starts with SC_SKIP_WITHOUT_CUDA(): on a machine without a GPU (or a
// build without the CUDA backend) it prints why and returns, so the suite stays green in CI.
// Test names start with "cuda": "cuda: <family>: ..." for the full checks and
// "cuda small: <family>: ..." for tiny shapes that bench/gpu_check.sh also runs under
// compute-sanitizer (memcheck on every "cuda small:" case, racecheck on the ones that use
// shared memory).
#include <doctest/doctest.h>

#include <string>

#include "core/ops.h"
#include "kernels/cuda_backend.h"

#define SC_SKIP_WITHOUT_CUDA()                                                              \
  do {                                                                                      \
    if (!::sc::cuda_available()) {                                                          \
      MESSAGE("SKIPPED (no GPU): ", std::string(::sc::cuda_unavailable_reason()));          \
      return;                                                                               \
    }                                                                                       \
  } while (0)

namespace sc::test {

// While alive, every CUDA allocation is filled with 0xFF bytes first (NaN in float, -1 in
// integers), so an output element a kernel forgets to write fails the comparison.
struct PoisonGuard {
  bool before = kernels::cuda::poison_allocations();
  PoisonGuard() { kernels::cuda::set_poison_allocations(true); }
  ~PoisonGuard() { kernels::cuda::set_poison_allocations(before); }
};

// Runs the body with the given kernel path, restoring the previous one after.
struct KernelPathGuard {
  kernels::cuda::KernelPath before = kernels::cuda::kernel_path();
  explicit KernelPathGuard(kernels::cuda::KernelPath p) { kernels::cuda::set_kernel_path(p); }
  ~KernelPathGuard() { kernels::cuda::set_kernel_path(before); }
};

// The largest |a - b| / (atol + rtol * |b|) over all elements, with a and b on any device
// (copied to the CPU and to float64 first). <= 1 passes; NaN anywhere gives +inf.
double cuda_worst_ratio(const Tensor& a, const Tensor& b, double atol, double rtol);

// The largest |element| of t (any device, any float dtype), as a double.
double max_abs(const Tensor& t);

// True when a and b hold bit-identical values (same shape and dtype, any device).
bool bitwise_equal(const Tensor& a, const Tensor& b);

}  // namespace sc::test
