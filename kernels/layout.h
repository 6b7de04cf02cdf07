#pragma once
// The one shape struct kernels see: sizes and strides (in elements) of an n-d view.
// Kernels know nothing of Tensor; ops build a Layout from a tensor and pass pointers.
// It is a plain struct of fixed arrays, so CUDA kernels take it by value as an argument.
#include <cstdint>

#include "kernels/host_device.h"

namespace sc::kernels {

constexpr int kMaxDims = 8;

struct Layout {
  int ndim = 0;
  int64_t sizes[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};

  SC_HOST_DEVICE int64_t numel() const {
    int64_t n = 1;
    for (int d = 0; d < ndim; ++d) n *= sizes[d];
    return n;
  }
};

}  // namespace sc::kernels
