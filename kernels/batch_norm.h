#pragma once
// Batch normalisation over a contiguous x seen as [N, C, HW] (HW = 1 for a [N, C] input):
// every channel c is normalised over its M = N * HW values,
//   xhat = (x - mean_c) * invstd_c,   y = gamma_c * xhat + beta_c.
// In training mean_c and invstd_c = 1 / sqrt(var_c + eps) come from the batch (biased
// variance); in evaluation from the running statistics. Both forwards write the mean and
// invstd they used, so the one backward kernel serves both modes.
//
// gamma and beta may be null (no affine transform: gamma = 1, beta = 0). Channels run in
// parallel (OpenMP); each channel's sums accumulate in double.
//
// The CUDA versions (kernels/cuda/batch_norm.cu) with the same signatures arrive with the
// CUDA backend.
#include <cstdint>

namespace sc::kernels::cpu {

// Training forward. Needs M = N * HW > 1. Writes y, save_mean[C], save_invstd[C]. When
// running_mean / running_var are not null (contiguous [C]) they are updated in place, as
// cuDNN's exponential average: r = (1 - momentum) * r + momentum * batch, with the unbiased
// variance var * M / (M - 1) going into running_var.
template <typename T>
void batch_norm_forward_train(const T* x, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* beta, double eps,
                              double momentum, T* y, T* save_mean, T* save_invstd, T* running_mean, T* running_var);

// Evaluation forward from the running statistics. Writes y and, for the backward,
// save_mean[C] = running_mean and save_invstd[C] = 1 / sqrt(running_var + eps).
template <typename T>
void batch_norm_forward_eval(const T* x, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* beta,
                             const T* running_mean, const T* running_var, double eps, T* y, T* save_mean,
                             T* save_invstd);

// Backward from x, dy and the saved per-channel mean / invstd. Per channel, with sums over its M values:
//   dgamma = sum(dy * xhat),   dbeta = sum(dy)
//   training (mean and invstd depend on x):
//     dx = gamma * invstd / M * (M * dy - sum(dy) - xhat * sum(dy * xhat))
//   evaluation (constants):
//     dx = gamma * invstd * dy
// dx, dgamma, dbeta may each be null when that gradient is not needed.
template <typename T>
void batch_norm_backward(const T* x, const T* dy, int64_t N, int64_t C, int64_t HW, const T* gamma,
                         const T* save_mean, const T* save_invstd, bool training, T* dx, T* dgamma, T* dbeta);

}  // namespace sc::kernels::cpu
