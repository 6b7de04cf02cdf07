#pragma once
// Batch normalisation over a contiguous x seen as [N, C, HW] (HW = 1 for a [N, C] input):
// every channel c is normalised over its M = N * HW values,
//   xhat = (x - mean_c) * invstd_c,   y = gamma_c * xhat + beta_c.
// In training mean_c and invstd_c = 1 / sqrt(var_c + eps) come from the batch (biased
// variance); in evaluation from the running statistics. Both forwards write the mean and
// invstd they used, so the one backward kernel serves both modes.
//
// gamma and beta may be null (no affine transform: gamma = 1, beta = 0). Channels run in
// parallel (OpenMP). The CPU kernels sum each contiguous run of a channel in 16 lanes of T and
// the runs in double, and apply per-channel coefficients in T; the same bits on every machine
// (the lane count is fixed, not the vector width). cpu::reference has the plain versions
// (every element in double), which the tests compare them against.
//
// The CUDA versions (kernels/cuda/batch_norm.cu, below) have the same signatures and contract.
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

// Batch norm followed by a ReLU, fused (CPU only; the batch_norm_relu op). The forwards write
// y = max(x * scale_c + shift_c, 0) in the normalising pass, and the per-channel coefficients
// they used into relu_scale[C] and relu_shift[C]. The backward takes x, those coefficients and
// the gradient dy with respect to y: it recomputes the ReLU's mask (x * scale_c + shift_c > 0,
// the same float operations as the forward, so the same bits) inside its own passes and goes
// on as batch_norm_backward with dy masked. So neither the batch norm output before the ReLU
// nor y itself is kept for the backward: when the next layer does not save y (a max-pool keeps
// only its argmax), y is freed as soon as that layer has run.
template <typename T>
void batch_norm_relu_forward_train(const T* x, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* beta,
                                   double eps, double momentum, T* y, T* save_mean, T* save_invstd, T* running_mean,
                                   T* running_var, T* relu_scale, T* relu_shift);
template <typename T>
void batch_norm_relu_forward_eval(const T* x, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* beta,
                                  const T* running_mean, const T* running_var, double eps, T* y, T* save_mean,
                                  T* save_invstd, T* relu_scale, T* relu_shift);
template <typename T>
void batch_norm_relu_backward(const T* x, const T* relu_scale, const T* relu_shift, const T* dy, int64_t N, int64_t C,
                              int64_t HW, const T* gamma, const T* save_mean, const T* save_invstd, bool training,
                              T* dx, T* dgamma, T* dbeta);

// The readable reference kernels: same contracts, one element at a time in double.
namespace reference {
template <typename T>
void batch_norm_forward_train(const T* x, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* beta, double eps,
                              double momentum, T* y, T* save_mean, T* save_invstd, T* running_mean, T* running_var);
template <typename T>
void batch_norm_forward_eval(const T* x, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* beta,
                             const T* running_mean, const T* running_var, double eps, T* y, T* save_mean,
                             T* save_invstd);
template <typename T>
void batch_norm_backward(const T* x, const T* dy, int64_t N, int64_t C, int64_t HW, const T* gamma,
                         const T* save_mean, const T* save_invstd, bool training, T* dx, T* dgamma, T* dbeta);
}  // namespace reference

}  // namespace sc::kernels::cpu

// CUDA versions of the three kernels above: same arguments and contract, every pointer on the
// device. They pick the implementation from kernel_path() (kernels/cuda_backend.h):
// Handwritten (the default) runs ours, Vendor runs cuDNN. Our kernels are bit-for-bit
// deterministic run to run: each channel is split into a fixed set of chunks whose partial
// sums (in double) are combined in a fixed order, with no floating-point atomics.
// cuDNN's backward only has the training-mode formula, so an evaluation-mode backward always
// runs our kernel.
namespace sc::kernels::cuda {

template <typename T>
void batch_norm_forward_train(const T* x, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* beta, double eps,
                              double momentum, T* y, T* save_mean, T* save_invstd, T* running_mean, T* running_var);
template <typename T>
void batch_norm_forward_eval(const T* x, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* beta,
                             const T* running_mean, const T* running_var, double eps, T* y, T* save_mean,
                             T* save_invstd);
template <typename T>
void batch_norm_backward(const T* x, const T* dy, int64_t N, int64_t C, int64_t HW, const T* gamma,
                         const T* save_mean, const T* save_invstd, bool training, T* dx, T* dgamma, T* dbeta);

// Each implementation by name, whatever kernel_path() says: for tests and benchmarks that
// compare them. Same arguments as above.
namespace bn_path {

// kernels/cuda/batch_norm.cu
template <typename T>
void handwritten_forward_train(const T* x, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* beta, double eps,
                               double momentum, T* y, T* save_mean, T* save_invstd, T* running_mean, T* running_var);
template <typename T>
void handwritten_forward_eval(const T* x, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* beta,
                              const T* running_mean, const T* running_var, double eps, T* y, T* save_mean,
                              T* save_invstd);
template <typename T>
void handwritten_backward(const T* x, const T* dy, int64_t N, int64_t C, int64_t HW, const T* gamma,
                          const T* save_mean, const T* save_invstd, bool training, T* dx, T* dgamma, T* dbeta);

// kernels/cuda/vendor/cudnn_batch_norm.cu: cudnnBatchNormalizationForwardTraining /
// ForwardInference / Backward in CUDNN_BATCHNORM_SPATIAL mode, x described as [N, C, HW, 1].
// Null gamma / beta become ones / zeros, null gradients go to scratch buffers. The backward
// reuses the saved mean and invstd; it throws for training == false (cuDNN has no
// evaluation-mode backward: use handwritten_backward).
template <typename T>
void cudnn_forward_train(const T* x, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* beta, double eps,
                         double momentum, T* y, T* save_mean, T* save_invstd, T* running_mean, T* running_var);
template <typename T>
void cudnn_forward_eval(const T* x, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* beta,
                        const T* running_mean, const T* running_var, double eps, T* y, T* save_mean, T* save_invstd);
template <typename T>
void cudnn_backward(const T* x, const T* dy, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* save_mean,
                    const T* save_invstd, bool training, T* dx, T* dgamma, T* dbeta);

}  // namespace bn_path

}  // namespace sc::kernels::cuda
