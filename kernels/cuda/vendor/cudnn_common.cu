// The cuDNN handle, status errors and descriptor wrappers (kernels/cuda/vendor/cudnn_common.cuh).
#include <climits>
#include <mutex>

#include "base/error.h"
#include "kernels/cuda/vendor/cudnn_common.cuh"

namespace sc::kernels::cuda {

void throw_cudnn_error(cudnnStatus_t status, const char* what, const char* file, int line) {
  throw Error(detail::concat("cuDNN error in ", what, " (", file, ":", line, "): ", cudnnGetErrorString(status)));
}

cudnnHandle_t cudnn_handle() {
  // Created once and deliberately never destroyed: destroying it from a static destructor
  // could run after the CUDA runtime has shut down.
  static cudnnHandle_t handle = [] {
    cudnnHandle_t created = nullptr;
    SC_CUDNN_CHECK(cudnnCreate(&created));
    SC_CUDNN_CHECK(cudnnSetStream(created, stream()));
    return created;
  }();
  return handle;
}

int to_cudnn_int(int64_t v, const char* what) {
  SC_CHECK(v >= 0 && v <= INT_MAX, "cuDNN: ", what, " = ", v, " does not fit in an int");
  return static_cast<int>(v);
}

// Destructors must not throw, so their status is ignored: destroying a valid descriptor
// cannot fail in practice.
TensorDescriptor::TensorDescriptor(cudnnDataType_t dtype, int64_t n, int64_t c, int64_t h, int64_t w) {
  const int in = to_cudnn_int(n, "tensor N"), ic = to_cudnn_int(c, "tensor C");
  const int ih = to_cudnn_int(h, "tensor H"), iw = to_cudnn_int(w, "tensor W");
  SC_CUDNN_CHECK(cudnnCreateTensorDescriptor(&desc_));
  try {
    SC_CUDNN_CHECK(cudnnSetTensor4dDescriptor(desc_, CUDNN_TENSOR_NCHW, dtype, in, ic, ih, iw));
  } catch (...) {
    cudnnDestroyTensorDescriptor(desc_);
    throw;
  }
}
TensorDescriptor::~TensorDescriptor() { cudnnDestroyTensorDescriptor(desc_); }

FilterDescriptor::FilterDescriptor(cudnnDataType_t dtype, int64_t o, int64_t c, int64_t kh, int64_t kw) {
  const int io = to_cudnn_int(o, "filter O"), ic = to_cudnn_int(c, "filter C");
  const int ikh = to_cudnn_int(kh, "filter KH"), ikw = to_cudnn_int(kw, "filter KW");
  SC_CUDNN_CHECK(cudnnCreateFilterDescriptor(&desc_));
  try {
    SC_CUDNN_CHECK(cudnnSetFilter4dDescriptor(desc_, dtype, CUDNN_TENSOR_NCHW, io, ic, ikh, ikw));
  } catch (...) {
    cudnnDestroyFilterDescriptor(desc_);
    throw;
  }
}
FilterDescriptor::~FilterDescriptor() { cudnnDestroyFilterDescriptor(desc_); }

ConvolutionDescriptor::ConvolutionDescriptor(cudnnDataType_t compute_type, int64_t pad_h, int64_t pad_w,
                                             int64_t stride_h, int64_t stride_w, int64_t dilation_h,
                                             int64_t dilation_w) {
  const int ph = to_cudnn_int(pad_h, "pad_h"), pw = to_cudnn_int(pad_w, "pad_w");
  const int sh = to_cudnn_int(stride_h, "stride_h"), sw = to_cudnn_int(stride_w, "stride_w");
  const int dh = to_cudnn_int(dilation_h, "dilation_h"), dw = to_cudnn_int(dilation_w, "dilation_w");
  SC_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&desc_));
  try {
    SC_CUDNN_CHECK(
        cudnnSetConvolution2dDescriptor(desc_, ph, pw, sh, sw, dh, dw, CUDNN_CROSS_CORRELATION, compute_type));
    SC_CUDNN_CHECK(cudnnSetConvolutionMathType(desc_, CUDNN_FMA_MATH));
  } catch (...) {
    cudnnDestroyConvolutionDescriptor(desc_);
    throw;
  }
}
ConvolutionDescriptor::~ConvolutionDescriptor() { cudnnDestroyConvolutionDescriptor(desc_); }

}  // namespace sc::kernels::cuda
