#pragma once
// 2-D convolution (groups = 1): the forward pass and the three backward kernels.
//
//   x [N, C, H, W] (NCHW), weight [O, C, KH, KW] (OIHW), bias [O], y [N, O, OH, OW]
//   y[n,o,oh,ow] = bias[o] + sum_{c,kh,kw} weight[o,c,kh,kw] * x[n, c, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw]
// (x read outside [0,H) x [0,W) is zero padding.)
//
// The CPU version is im2col + GEMM, per image (or per group of images whose outputs are
// small: their im2col matrices side by side, [K, G * P], one GEMM). For one image, lay the input patches
// out as the columns of a matrix col [K, P], K = C*KH*KW rows (one per weight tap),
// P = OH*OW columns (one per output pixel). Then the convolution is one matrix product
// and the two input-side gradients are its transposes:
//   forward       y_n [O,P]  = W [O,K] * col [K,P]           (+ bias on every column)
//   grad weight   dW  [O,K] += dy_n [O,P] * col^T [P,K]      (summed over images)
//   grad input    dcol[K,P]  = W^T [K,O] * dy_n [O,P], then col2im scatters dcol back
//                              onto dx_n (a pixel used by several taps sums them)
//   grad bias     db[o]      = sum_{n,p} dy[n,o,p]
//
// Every pointer is to a contiguous buffer in the layout above; outputs are fully
// written (never accumulated into). The CUDA versions have the same signatures, in
// sc::kernels::cuda (at the end of this file).
#include <cstdint>

namespace sc::kernels {

struct Conv2dShape {
  int64_t N = 0, C = 0, H = 0, W = 0;  // input
  int64_t O = 0, KH = 0, KW = 0;       // weight [O, C, KH, KW]
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t OH = 0, OW = 0;  // output; see conv2d_output_size

  int64_t K() const { return C * KH * KW; }  // rows of the im2col matrix
  int64_t P() const { return OH * OW; }      // columns: output pixels per image
};

// floor((in + 2*pad - dilation*(kernel-1) - 1) / stride) + 1, as PyTorch. May be <= 0
// when the (dilated) kernel does not fit in the padded input: the op reports that.
inline int64_t conv2d_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation) {
  const int64_t span = dilation * (kernel - 1) + 1;
  const int64_t room = in + 2 * pad - span;
  return room < 0 ? 0 : room / stride + 1;
}

}  // namespace sc::kernels

namespace sc::kernels::cpu {

// y = conv(x, weight) + bias. bias may be null (no bias).
template <typename T>
void conv2d_forward(const T* x, const T* weight, const T* bias, T* y, const Conv2dShape& s);

// grad_x [N,C,H,W] from grad_y [N,O,OH,OW] and weight.
template <typename T>
void conv2d_backward_input(const T* grad_y, const T* weight, T* grad_x, const Conv2dShape& s);

// grad_weight [O,C,KH,KW] from grad_y and x. Images are split into one fixed chunk per
// thread and the per-chunk sums are added in chunk order, so the result does not
// depend on scheduling (only on the thread count).
template <typename T>
void conv2d_backward_weight(const T* grad_y, const T* x, T* grad_weight, const Conv2dShape& s);

// grad_bias [O] = the sum of grad_y over n, oh, ow.
template <typename T>
void conv2d_backward_bias(const T* grad_y, T* grad_bias, const Conv2dShape& s);

// The patch-gathering step, exposed for tests and benchmarks: col [K, P] for one image
// x_img [C, H, W], and its adjoint, which overwrites x_img with the sum of col's entries.
template <typename T>
void im2col(const T* x_img, T* col, const Conv2dShape& s);
template <typename T>
void col2im(const T* col, T* x_img, const Conv2dShape& s);

}  // namespace sc::kernels::cpu

namespace sc::kernels::cuda {

// The CUDA versions: same contract as the CPU ones above, with device pointers. Each call
// picks its path from kernel_path() (kernels/cuda_backend.h):
//   Handwritten (default) - implicit GEMM (kernels/cuda/conv2d.cu): the GEMM of the CPU
//                           version, with the im2col matrix never stored: each tile of it
//                           is gathered from x (or dy) straight into shared memory.
//   Vendor                - cuDNN (kernels/cuda/vendor/cudnn_conv.cu), FP32 FMA math (no TF32)
//                           and, for the backward kernels, a deterministic algorithm.
// The backward kernels give the same bits on every run (fixed-order reductions, no atomics).
// grad_bias always uses the hand-written reduction (it is a plain per-channel sum).
template <typename T>
void conv2d_forward(const T* x, const T* weight, const T* bias, T* y, const Conv2dShape& s);
template <typename T>
void conv2d_backward_input(const T* grad_y, const T* weight, T* grad_x, const Conv2dShape& s);
template <typename T>
void conv2d_backward_weight(const T* grad_y, const T* x, T* grad_weight, const Conv2dShape& s);
template <typename T>
void conv2d_backward_bias(const T* grad_y, T* grad_bias, const Conv2dShape& s);

// The single paths, whatever kernel_path() says: for tests and benchmarks that compare them.
namespace conv_path {
template <typename T>
void handwritten_forward(const T* x, const T* weight, const T* bias, T* y, const Conv2dShape& s);
template <typename T>
void handwritten_backward_input(const T* grad_y, const T* weight, T* grad_x, const Conv2dShape& s);
template <typename T>
void handwritten_backward_weight(const T* grad_y, const T* x, T* grad_weight, const Conv2dShape& s);

template <typename T>
void cudnn_forward(const T* x, const T* weight, const T* bias, T* y, const Conv2dShape& s);
template <typename T>
void cudnn_backward_input(const T* grad_y, const T* weight, T* grad_x, const Conv2dShape& s);
template <typename T>
void cudnn_backward_weight(const T* grad_y, const T* x, T* grad_weight, const Conv2dShape& s);
}  // namespace conv_path

}  // namespace sc::kernels::cuda
