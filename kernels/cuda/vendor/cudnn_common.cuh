#pragma once
// What the cuDNN-backed kernels share: the one cuDNN handle, a status check, and small
// RAII wrappers for the descriptors cuDNN describes tensors with.
//
//   SC_CUDNN_CHECK(cudnnConvolutionForward(cudnn_handle(), ...));
//   TensorDescriptor xd(cudnn_data_type<T>(), N, C, H, W);   // contiguous NCHW
//
// The handle is created on first use and bound to stream(), so cuDNN work is ordered with
// every hand-written kernel and copy (one stream, in order: see kernels/cuda_backend.h).
// Include this only from .cu files (it includes cudnn.h).
#include <cudnn.h>

#include <cstdint>

#include "kernels/cuda/common.cuh"

namespace sc::kernels::cuda {

[[noreturn]] void throw_cudnn_error(cudnnStatus_t status, const char* what, const char* file, int line);

// Every cuDNN call is checked; a failure becomes an sc::Error naming the call and the status.
#define SC_CUDNN_CHECK(call)                                                                       \
  do {                                                                                             \
    cudnnStatus_t sc_cudnn_status_ = (call);                                                       \
    if (sc_cudnn_status_ != CUDNN_STATUS_SUCCESS)                                                  \
      ::sc::kernels::cuda::throw_cudnn_error(sc_cudnn_status_, #call, __FILE__, __LINE__);         \
  } while (0)

// The process-wide cuDNN handle, created lazily and bound to stream().
cudnnHandle_t cudnn_handle();

// CUDNN_DATA_FLOAT for float, CUDNN_DATA_DOUBLE for double.
template <typename T>
constexpr cudnnDataType_t cudnn_data_type();
template <>
constexpr cudnnDataType_t cudnn_data_type<float>() { return CUDNN_DATA_FLOAT; }
template <>
constexpr cudnnDataType_t cudnn_data_type<double>() { return CUDNN_DATA_DOUBLE; }

// A 4-d tensor descriptor for a contiguous NCHW buffer. cuDNN takes int sizes: a size that
// does not fit throws sc::Error rather than wrapping.
class TensorDescriptor {
 public:
  TensorDescriptor(cudnnDataType_t dtype, int64_t n, int64_t c, int64_t h, int64_t w);
  ~TensorDescriptor();
  TensorDescriptor(const TensorDescriptor&) = delete;
  TensorDescriptor& operator=(const TensorDescriptor&) = delete;
  cudnnTensorDescriptor_t get() const { return desc_; }

 private:
  cudnnTensorDescriptor_t desc_ = nullptr;
};

// A filter descriptor for a contiguous OIHW (= KCRS in cuDNN's words) weight buffer.
class FilterDescriptor {
 public:
  FilterDescriptor(cudnnDataType_t dtype, int64_t o, int64_t c, int64_t kh, int64_t kw);
  ~FilterDescriptor();
  FilterDescriptor(const FilterDescriptor&) = delete;
  FilterDescriptor& operator=(const FilterDescriptor&) = delete;
  cudnnFilterDescriptor_t get() const { return desc_; }

 private:
  cudnnFilterDescriptor_t desc_ = nullptr;
};

// A 2-d cross-correlation (what deep learning calls convolution) descriptor, groups = 1,
// computing in `compute_type`, with plain FMA math: no TF32 and no tensor cores, so its
// FP32 results and timings compare fairly with hand-written FP32 kernels.
class ConvolutionDescriptor {
 public:
  ConvolutionDescriptor(cudnnDataType_t compute_type, int64_t pad_h, int64_t pad_w, int64_t stride_h,
                        int64_t stride_w, int64_t dilation_h, int64_t dilation_w);
  ~ConvolutionDescriptor();
  ConvolutionDescriptor(const ConvolutionDescriptor&) = delete;
  ConvolutionDescriptor& operator=(const ConvolutionDescriptor&) = delete;
  cudnnConvolutionDescriptor_t get() const { return desc_; }

 private:
  cudnnConvolutionDescriptor_t desc_ = nullptr;
};

// Checks that a size fits cuDNN's int arguments; `what` names it in the error.
int to_cudnn_int(int64_t v, const char* what);

}  // namespace sc::kernels::cuda
