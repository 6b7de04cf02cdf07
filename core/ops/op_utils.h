#pragma once
// Helpers shared by the op files (not part of the public API).
#include <initializer_list>
#include <string>

#include "core/ops.h"
#include "kernels/strided.h"

namespace sc::detail {

// The kernel's view of a tensor: sizes and strides, no Tensor.
kernels::Layout layout_of(const Tensor& t);
// The layout of `t` broadcast to `shape` (stride 0 on broadcast dims).
kernels::Layout broadcast_layout(const Tensor& t, const Shape& shape);

// Throws naming `op` unless the tensor is defined.
void check_defined(const Tensor& t, const char* op, const char* what);
// Throws naming `op` unless both tensors share dtype and device.
void check_same_dtype_device(const Tensor& a, const Tensor& b, const char* op);
// Throws naming `op` unless t is float32 or float64.
void check_floating(const Tensor& t, const char* op);
// Throws naming `op` unless t has the given number of dims.
void check_dim(const Tensor& t, int64_t ndim, const char* op, const char* what);
// Throws naming `op` unless every value is below 2^31. Convolution and pooling compute
// sizes such as H + 2 * pad and dilation * (KH - 1) + 1 from these; with every term below
// 2^31 that arithmetic cannot overflow int64 (undefined behaviour, and a wrapped size could
// pass the checks that follow). No real image or kernel comes near the bound.
void check_spatial_sizes(const char* op, std::initializer_list<int64_t> values, const Tensor& x);
// The position of the first value of the 1-D int64 tensor `index` outside [0, high), or -1.
// On the GPU the search runs there and only the answer comes back (no copy of the index).
int64_t first_out_of_range(const Tensor& index, int64_t high);

// The error an op throws when a CUDA tensor reaches it and the build has no CUDA backend.
[[noreturn]] void no_cuda_kernel(const char* op);

}  // namespace sc::detail

// The CUDA branch of an op's device switch:
//   case Device::CUDA:
//     SC_CUDA_BRANCH("matmul", kernels::cuda::gemm<float>(...));
//     break;
// In a build without CUDA the kernels::cuda functions are not compiled, so the branch turns
// into the "no CUDA backend" error (no CUDA tensor can exist in such a build anyway).
#ifdef SC_WITH_CUDA
#define SC_CUDA_BRANCH(op, ...) __VA_ARGS__
#else
#define SC_CUDA_BRANCH(op, ...) ::sc::detail::no_cuda_kernel(op)
#endif
