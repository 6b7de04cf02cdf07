#pragma once
// 2-D pooling over NCHW tensors: max, average (padding counted as zeros, PyTorch's
// count_include_pad=True) and global average. Each (n, c) plane is pooled on its own, so
// the kernels see the input as N*C planes of H x W and the output as N*C planes of OH x OW.
//
//   window (oh, ow) covers rows oh*sh - ph .. + KH-1 and columns ow*sw - pw .. + KW-1
//   max:  y = the largest element of the window inside the input (padding never wins);
//         argmax = its index ih*W + iw in the plane, the first one on ties, so the
//         backward sends the whole gradient to that one element. The argmax is int32 (half
//         the memory of int64 for what the backward keeps): a plane must have fewer than
//         2^31 elements, which the op checks.
//   avg:  y = sum of the window inside the input / (KH*KW); the backward gives every
//         element of the window g / (KH*KW).
//   global average: y[n,c] = mean of the plane; the backward spreads g / (H*W).
//
// Pointers are to contiguous buffers; outputs are fully written. The CUDA versions
// (kernels/cuda/pool.cu) have the same signatures in sc::kernels::cuda, below.
#include <cstdint>

namespace sc::kernels {

struct Pool2dShape {
  int64_t N = 0, C = 0, H = 0, W = 0;  // input
  int64_t KH = 1, KW = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t OH = 0, OW = 0;  // output: (H + 2*pad_h - KH) / stride_h + 1, likewise for W

  int64_t planes() const { return N * C; }
};

}  // namespace sc::kernels

namespace sc::kernels::cpu {

// y [N,C,OH,OW] and argmax [N,C,OH,OW] (an index into the H*W plane). NaN counts as the max.
template <typename T>
void max_pool2d_forward(const T* x, T* y, int32_t* argmax, const Pool2dShape& s);

// The 2x2, stride-2, unpadded max pool forward (float32) on each of its two paths, for the
// tests: the portable loop, and AVX-512 (only where gemm_path::avx512_available()), which
// max_pool2d_forward takes when the CPU GEMM path is AVX-512. The same outputs and argmax.
namespace pool_path {
void max_pool_2x2_portable(const float* x, float* y, int32_t* argmax, const Pool2dShape& s);
void max_pool_2x2_avx512(const float* x, float* y, int32_t* argmax, const Pool2dShape& s);
// Its backward with AVX-512 (max_pool2d_backward takes it with the forward): the same grad_x as
// the general loop's zero-and-scatter.
void max_pool_2x2_backward_avx512(const float* grad_y, const int32_t* argmax, float* grad_x, const Pool2dShape& s);
}  // namespace pool_path
// grad_x [N,C,H,W]: each output's gradient added to its argmax element (windows overlap
// when the stride is smaller than the kernel, so an element may collect several).
template <typename T>
void max_pool2d_backward(const T* grad_y, const int32_t* argmax, T* grad_x, const Pool2dShape& s);

template <typename T>
void avg_pool2d_forward(const T* x, T* y, const Pool2dShape& s);
template <typename T>
void avg_pool2d_backward(const T* grad_y, T* grad_x, const Pool2dShape& s);

// y [N*C] = the mean of each H*W plane; grad_x[plane, i] = grad_y[plane] / (H*W).
template <typename T>
void global_avg_pool2d_forward(const T* x, T* y, int64_t planes, int64_t plane_size);
template <typename T>
void global_avg_pool2d_backward(const T* grad_y, T* grad_x, int64_t planes, int64_t plane_size);

}  // namespace sc::kernels::cpu

// CUDA versions of the kernels above: same arguments and contract, every pointer on the device.
// The forwards run one thread per output element. The max and average backwards run one
// thread per input element that gathers from the few windows covering it, in the order the
// CPU kernel scatters, so they need no atomics and give the CPU's bits.
namespace sc::kernels::cuda {

template <typename T>
void max_pool2d_forward(const T* x, T* y, int32_t* argmax, const Pool2dShape& s);
template <typename T>
void max_pool2d_backward(const T* grad_y, const int32_t* argmax, T* grad_x, const Pool2dShape& s);

template <typename T>
void avg_pool2d_forward(const T* x, T* y, const Pool2dShape& s);
template <typename T>
void avg_pool2d_backward(const T* grad_y, T* grad_x, const Pool2dShape& s);

template <typename T>
void global_avg_pool2d_forward(const T* x, T* y, int64_t planes, int64_t plane_size);
template <typename T>
void global_avg_pool2d_backward(const T* grad_y, T* grad_x, int64_t planes, int64_t plane_size);

}  // namespace sc::kernels::cuda
