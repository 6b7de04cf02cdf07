#include "core/ops/op_utils.h"

#include "kernels/index.h"

namespace sc::detail {

kernels::Layout layout_of(const Tensor& t) {
  SC_CHECK(t.dim() <= kernels::kMaxDims, "tensors have at most ", kernels::kMaxDims, " dims, got ", t.describe());
  kernels::Layout l;
  l.ndim = static_cast<int>(t.dim());
  for (int d = 0; d < l.ndim; ++d) {
    l.sizes[d] = t.shape()[d];
    l.strides[d] = t.strides()[d];
  }
  return l;
}

kernels::Layout broadcast_layout(const Tensor& t, const Shape& shape) {
  SC_CHECK(static_cast<int64_t>(shape.size()) <= kernels::kMaxDims, "tensors have at most ", kernels::kMaxDims,
           " dims, got ", shape_str(shape));
  kernels::Layout l;
  l.ndim = static_cast<int>(shape.size());
  const int64_t lead = l.ndim - t.dim();
  for (int d = 0; d < l.ndim; ++d) {
    l.sizes[d] = shape[d];
    const int64_t td = d - lead;
    l.strides[d] = (td < 0 || t.shape()[td] == 1) ? 0 : t.strides()[td];
  }
  return l;
}

void check_defined(const Tensor& t, const char* op, const char* what) {
  SC_CHECK(t.defined(), op, ": ", what, " is an undefined tensor");
}

void check_same_dtype_device(const Tensor& a, const Tensor& b, const char* op) {
  SC_CHECK(a.dtype() == b.dtype(), op, ": dtypes differ: ", a.describe(), " and ", b.describe());
  SC_CHECK(a.device() == b.device(), op, ": devices differ: ", a.describe(), " and ", b.describe());
}

void check_floating(const Tensor& t, const char* op) {
  SC_CHECK(is_floating(t.dtype()), op, ": expected a float32 or float64 tensor, got ", t.describe());
}

void check_dim(const Tensor& t, int64_t ndim, const char* op, const char* what) {
  SC_CHECK(t.dim() == ndim, op, ": ", what, " must have ", ndim, " dims, got ", t.describe());
}

void check_spatial_sizes(const char* op, std::initializer_list<int64_t> values, const Tensor& x) {
  constexpr int64_t limit = int64_t(1) << 31;
  for (const int64_t v : values)
    SC_CHECK(v < limit, op, ": image sizes, kernel sizes, strides, padding and dilation must be below 2^31, got ", v,
             " (input ", x.describe(), ")");
}

int64_t first_out_of_range(const Tensor& index, int64_t high) {
  const Tensor idx = contiguous(index);
  const int64_t n = idx.numel();
  switch (idx.device()) {
    case Device::CPU: {
      const int64_t* p = idx.data<int64_t>();
      for (int64_t i = 0; i < n; ++i)
        if (p[i] < 0 || p[i] >= high) return i;
      return -1;
    }
    case Device::CUDA: {
      int64_t first = -1;
      SC_CUDA_BRANCH("index check", first = kernels::cuda::first_out_of_range(idx.data<int64_t>(), n, 0, high));
      return first;
    }
  }
  return -1;
}

void no_cuda_kernel(const char* op) {
  throw Error(concat(op, ": this build has no CUDA backend (configured with SC_CUDA=OFF or without nvcc)"));
}

}  // namespace sc::detail
