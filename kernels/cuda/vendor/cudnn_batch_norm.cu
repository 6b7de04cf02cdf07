// Batch normalisation through cuDNN: the Vendor path of kernels/batch_norm.h, and the oracle
// the hand-written kernels (kernels/cuda/batch_norm.cu) are checked and timed against.
//
// cuDNN's legacy batch-norm API in CUDNN_BATCHNORM_SPATIAL mode computes what our contract
// says: per-channel statistics over N, H and W; the biased variance normalises the batch;
// the running variance is updated with the unbiased one (var * M / (M - 1)) as
//   running = (1 - factor) * running + factor * batch,   factor = our momentum;
// resultSaveInvVariance is 1 / sqrt(var + eps), our save_invstd. Our [N, C, HW] view is
// described as a 4-d [N, C, HW, 1] tensor (a [N, C] input as [N, C, 1, 1]); the per-channel
// tensors as [1, C, 1, 1] of the same dtype (what cudnnDeriveBNTensorDescriptor gives for
// float and double).
//
// Where our contract allows null pointers cuDNN does not: a null gamma becomes a buffer of
// ones, a null beta one of zeros, and an unwanted gradient goes to scratch memory.
#include <cudnn.h>

#include <cstdint>
#include <optional>

#include "kernels/batch_norm.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/vendor/cudnn_common.cuh"

namespace sc::kernels::cuda::bn_path {

namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void fill_value(T* p, int64_t n, T value) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    p[i] = value;
}

// cuDNN's ForwardInference gives only y; the backward needs the statistics it used.
template <typename T>
__global__ void eval_saved_stats(const T* running_mean, const T* running_var, double eps, int64_t C, T* save_mean,
                                 T* save_invstd) {
  for (int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; c < C;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    save_mean[c] = running_mean[c];
    save_invstd[c] = static_cast<T>(1.0 / sqrt(static_cast<double>(running_var[c]) + eps));
  }
}

// A [C] device buffer of `value` (ones for a missing gamma, zeros for a missing beta).
template <typename T>
DeviceBuffer constant_channels(int64_t C, T value) {
  DeviceBuffer buf(static_cast<size_t>(C) * sizeof(T));
  fill_value<T><<<grid_for(C, kThreads), kThreads, 0, stream()>>>(buf.as<T>(), C, value);
  check_launch("cudnn batch_norm fill_value");
  return buf;
}

// The descriptors every call needs: x (also y, dy, dx) as [N, C, HW, 1], the per-channel
// tensors as [1, C, 1, 1].
template <typename T>
struct Descriptors {
  TensorDescriptor data, channels;
  Descriptors(int64_t N, int64_t C, int64_t HW, const char* what)
      : data(checked_type(N, C, HW, what), N, C, HW, 1), channels(cudnn_data_type<T>(), 1, C, 1, 1) {}

  // cuDNN limits a tensor to 2^31 - 1 elements; checked before any descriptor is made.
  static cudnnDataType_t checked_type(int64_t N, int64_t C, int64_t HW, const char* what) {
    SC_CHECK(N * C * HW <= INT32_MAX, what, ": cuDNN batch norm takes at most 2^31 - 1 elements, got [", N, ", ", C,
             ", ", HW, "]; use the hand-written kernels (SC_KERNELS=handwritten)");
    return cudnn_data_type<T>();
  }
};

void check_eps(double eps, const char* what) {
  SC_CHECK(eps >= CUDNN_BN_MIN_EPSILON, what, ": cuDNN needs eps >= CUDNN_BN_MIN_EPSILON (", CUDNN_BN_MIN_EPSILON,
           "), got ", eps);
}

}  // namespace

template <typename T>
void cudnn_forward_train(const T* x, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* beta, double eps,
                         double momentum, T* y, T* save_mean, T* save_invstd, T* running_mean, T* running_var) {
  // cuDNN rejects zero-sized tensors; the hand-written kernel handles (or reports) them.
  if (N * C * HW == 0) {
    handwritten_forward_train(x, N, C, HW, gamma, beta, eps, momentum, y, save_mean, save_invstd, running_mean,
                              running_var);
    return;
  }
  const char* what = "batch_norm_forward_train (cuDNN)";
  check_eps(eps, what);
  const Descriptors<T> d(N, C, HW, what);
  std::optional<DeviceBuffer> ones, zeros;
  if (!gamma) gamma = ones.emplace(constant_channels<T>(C, T(1))).template as<T>();
  if (!beta) beta = zeros.emplace(constant_channels<T>(C, T(0))).template as<T>();
  const T one = 1, zero = 0;  // y = 1 * BN(x) + 0 * y
  // running_mean and running_var are both null or both set (the contract); cuDNN accepts that.
  SC_CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(
      cudnn_handle(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, d.data.get(), x, d.data.get(), y, d.channels.get(), gamma,
      beta, momentum, running_mean, running_var, eps, save_mean, save_invstd));
}

template <typename T>
void cudnn_forward_eval(const T* x, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* beta,
                        const T* running_mean, const T* running_var, double eps, T* y, T* save_mean, T* save_invstd) {
  if (N * C * HW == 0) {
    handwritten_forward_eval(x, N, C, HW, gamma, beta, running_mean, running_var, eps, y, save_mean, save_invstd);
    return;
  }
  const char* what = "batch_norm_forward_eval (cuDNN)";
  check_eps(eps, what);
  const Descriptors<T> d(N, C, HW, what);
  std::optional<DeviceBuffer> ones, zeros;
  if (!gamma) gamma = ones.emplace(constant_channels<T>(C, T(1))).template as<T>();
  if (!beta) beta = zeros.emplace(constant_channels<T>(C, T(0))).template as<T>();
  const T one = 1, zero = 0;
  SC_CUDNN_CHECK(cudnnBatchNormalizationForwardInference(cudnn_handle(), CUDNN_BATCHNORM_SPATIAL, &one, &zero,
                                                         d.data.get(), x, d.data.get(), y, d.channels.get(), gamma,
                                                         beta, running_mean, running_var, eps));
  eval_saved_stats<T><<<grid_for(C, kThreads), kThreads, 0, stream()>>>(running_mean, running_var, eps, C, save_mean,
                                                                        save_invstd);
  check_launch("cudnn batch_norm eval_saved_stats");
}

template <typename T>
void cudnn_backward(const T* x, const T* dy, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* save_mean,
                    const T* save_invstd, bool training, T* dx, T* dgamma, T* dbeta) {
  const char* what = "batch_norm_backward (cuDNN)";
  SC_CHECK(training, what, ": cuDNN has only the training-mode backward; use handwritten_backward in evaluation mode");
  if (N * C * HW == 0 || (!dx && !dgamma && !dbeta)) {
    handwritten_backward(x, dy, N, C, HW, gamma, save_mean, save_invstd, training, dx, dgamma, dbeta);
    return;
  }
  const Descriptors<T> d(N, C, HW, what);
  std::optional<DeviceBuffer> ones, dx_scratch, dgamma_scratch, dbeta_scratch;
  if (!gamma) gamma = ones.emplace(constant_channels<T>(C, T(1))).template as<T>();
  if (!dx) dx = dx_scratch.emplace(static_cast<size_t>(N * C * HW) * sizeof(T)).template as<T>();
  if (!dgamma) dgamma = dgamma_scratch.emplace(static_cast<size_t>(C) * sizeof(T)).template as<T>();
  if (!dbeta) dbeta = dbeta_scratch.emplace(static_cast<size_t>(C) * sizeof(T)).template as<T>();
  const T one = 1, zero = 0;  // dx, dgamma, dbeta = 1 * gradient + 0 * old
  // Given the saved mean and invstd, cuDNN uses them and not eps (which our backward does
  // not receive): any valid value will do.
  const double unused_eps = CUDNN_BN_MIN_EPSILON > 1e-5 ? CUDNN_BN_MIN_EPSILON : 1e-5;
  SC_CUDNN_CHECK(cudnnBatchNormalizationBackward(cudnn_handle(), CUDNN_BATCHNORM_SPATIAL, &one, &zero, &one, &zero,
                                                 d.data.get(), x, d.data.get(), dy, d.data.get(), dx,
                                                 d.channels.get(), gamma, dgamma, dbeta, unused_eps, save_mean,
                                                 save_invstd));
}

#define SC_INSTANTIATE_CUDNN_BATCH_NORM(T)                                                                          \
  template void cudnn_forward_train<T>(const T*, int64_t, int64_t, int64_t, const T*, const T*, double, double, T*, \
                                       T*, T*, T*, T*);                                                             \
  template void cudnn_forward_eval<T>(const T*, int64_t, int64_t, int64_t, const T*, const T*, const T*, const T*,  \
                                      double, T*, T*, T*);                                                          \
  template void cudnn_backward<T>(const T*, const T*, int64_t, int64_t, int64_t, const T*, const T*, const T*, bool, \
                                  T*, T*, T*);
SC_INSTANTIATE_CUDNN_BATCH_NORM(float)
SC_INSTANTIATE_CUDNN_BATCH_NORM(double)
#undef SC_INSTANTIATE_CUDNN_BATCH_NORM

}  // namespace sc::kernels::cuda::bn_path
