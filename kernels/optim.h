#pragma once
// Fused optimizer steps: one pass over one parameter tensor that reads the parameter, its
// gradient and the optimizer state once and writes the parameter and the state once.
// The op chain it replaces (nn/sgd.cpp, nn/adam.cpp, nn/lars.cpp before fusion) made a new
// tensor for every + and *, so an Adam step read and wrote each element about 15 times.
//
// The formulas are PyTorch's (torch.optim.SGD, Adam, AdamW) and SimCLR's LARS, in the same
// order of operations as the op chain, so results agree to the last bit or two:
//
//   SGD    g = grad + wd * p;  buf = g (first step) or momentum * buf + (1 - dampening) * g
//          d = nesterov ? g + momentum * buf : buf;  p = p - lr * d
//   Adam   g = grad + wd * p   (AdamW instead: p = p * (1 - lr * wd), g = grad)
//          m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
//          p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
//   LARS   g = grad + wd * p   (adapted parameters only)
//          trust = eta * ||p|| / ||g||  (1 when a norm is 0; 1 for excluded parameters)
//          v = momentum * v + lr * trust * g;  p = p - v
//
// Each formula is written once below, as a function of one element, and both the CPU loop
// (kernels/cpu/optim.cpp) and the CUDA kernel (kernels/cuda/optim.cu) call it: the two
// devices cannot drift apart. Scalars reach the element functions already converted to T,
// as they did in the op chain (`t * 0.9` multiplies a float32 tensor by float(0.9)).
// Compilers may fuse a * b + c into one fma, so CPU and CUDA (and the old chain) can differ
// in the last bit; each device gives the same bits run to run.
//
// Contract of every step function: param, grad and the state arrays are contiguous, hold n
// elements (n >= 0) and do not overlap. The state is read only when it exists: on the first
// step (`first_step`, or Adam's step == 1) it is written without being read, so it may be
// freshly allocated memory.
#include <cmath>
#include <cstdint>

#include "kernels/host_device.h"

namespace sc::kernels {

// ---- per-element formulas (host and device) ------------------------------------------------

template <typename T>
struct SgdConstants {
  T lr, weight_decay, momentum, one_minus_dampening;
  bool use_weight_decay;  // weight_decay != 0 (tested in double, as the op chain did)
  bool use_momentum;      // momentum != 0: there is a buffer
  bool nesterov;
  bool first_step;        // the buffer does not exist yet: buf = g
};

template <typename T>
SgdConstants<T> make_sgd_constants(double lr, double weight_decay, double momentum, double dampening, bool nesterov,
                                   bool first_step) {
  return {static_cast<T>(lr), static_cast<T>(weight_decay), static_cast<T>(momentum),
          static_cast<T>(1 - dampening), weight_decay != 0, momentum != 0, nesterov, first_step};
}

// One element: updates p and (when c.use_momentum) buf. On the first step buf's value is ignored.
template <typename T>
SC_HOST_DEVICE inline void sgd_element(const SgdConstants<T>& c, T& p, T grad, T& buf) {
  const T g = c.use_weight_decay ? grad + p * c.weight_decay : grad;
  T direction = g;
  if (c.use_momentum) {
    buf = c.first_step ? g : buf * c.momentum + g * c.one_minus_dampening;
    direction = c.nesterov ? g + buf * c.momentum : buf;
  }
  p = p - direction * c.lr;
}

template <typename T>
struct AdamConstants {
  T beta1, one_minus_beta1, beta2, one_minus_beta2, eps;
  T weight_decay;           // Adam: added to the gradient as weight_decay * p
  T decay_factor;           // AdamW: 1 - lr * weight_decay, multiplies p
  T sqrt_bias_correction2;  // sqrt(1 - beta2^t)
  T step_size;              // lr / (1 - beta1^t)
  bool use_weight_decay;    // weight_decay != 0
  bool decoupled;           // AdamW
  bool first_step;          // t == 1: the moments start at 0 and are not read
};

// step: t, this update's count (>= 1).
template <typename T>
AdamConstants<T> make_adam_constants(double lr, double beta1, double beta2, double eps, double weight_decay,
                                     bool decoupled_weight_decay, int64_t step) {
  const double bias_correction1 = 1 - std::pow(beta1, static_cast<double>(step));
  const double bias_correction2 = 1 - std::pow(beta2, static_cast<double>(step));
  return {static_cast<T>(beta1),
          static_cast<T>(1 - beta1),
          static_cast<T>(beta2),
          static_cast<T>(1 - beta2),
          static_cast<T>(eps),
          static_cast<T>(weight_decay),
          static_cast<T>(1 - lr * weight_decay),
          static_cast<T>(std::sqrt(bias_correction2)),
          static_cast<T>(lr / bias_correction1),
          weight_decay != 0,
          decoupled_weight_decay,
          step == 1};
}

// One element: updates p, m (exp_avg) and v (exp_avg_sq). The caller passes m = v = 0 on the
// first step.
template <typename T>
SC_HOST_DEVICE inline void adam_element(const AdamConstants<T>& c, T& p, T grad, T& m, T& v) {
  T g = grad;
  if (c.use_weight_decay) {
    if (c.decoupled)
      p = p * c.decay_factor;  // AdamW: decay the weights directly
    else
      g = grad + p * c.weight_decay;  // Adam: L2 term in the gradient
  }
  m = m * c.beta1 + g * c.one_minus_beta1;
  v = v * c.beta2 + g * g * c.one_minus_beta2;
  const T denom = std::sqrt(v) / c.sqrt_bias_correction2 + c.eps;
  p = p - m / denom * c.step_size;
}

template <typename T>
struct LarsConstants {
  T weight_decay, momentum;
  bool use_weight_decay;  // adapted parameter and weight_decay != 0
  bool first_step;        // the buffer starts at 0 and is not read
};

template <typename T>
LarsConstants<T> make_lars_constants(double weight_decay, double momentum, bool adapt, bool first_step) {
  return {static_cast<T>(weight_decay), static_cast<T>(momentum), adapt && weight_decay != 0, first_step};
}

// The gradient LARS steps along (and whose norm the trust ratio takes).
template <typename T>
SC_HOST_DEVICE inline T lars_gradient(const LarsConstants<T>& c, T p, T grad) {
  return c.use_weight_decay ? grad + p * c.weight_decay : grad;
}

// eta * ||p|| / ||g|| from the sums of squares, or 1 when either norm is 0.
SC_HOST_DEVICE inline double lars_trust_ratio(double param_sum_sq, double grad_sum_sq, double eta) {
  const double param_norm = std::sqrt(param_sum_sq);
  const double grad_norm = std::sqrt(grad_sum_sq);
  return param_norm > 0 && grad_norm > 0 ? eta * param_norm / grad_norm : 1.0;
}

// One element: updates p and v; scaled_lr = lr * trust. The caller passes v = 0 on the first step.
template <typename T>
SC_HOST_DEVICE inline void lars_element(const LarsConstants<T>& c, T scaled_lr, T& p, T grad, T& v) {
  const T g = lars_gradient(c, p, grad);
  v = v * c.momentum + g * scaled_lr;
  p = p - v;
}

// ---- CPU (kernels/cpu/optim.cpp) --------------------------------------------------------------
namespace cpu {

// SGD. momentum_buffer is unused (may be null) when momentum == 0; first_step: it is written,
// not read (buf = g).
template <typename T>
void sgd_step(T* param, const T* grad, T* momentum_buffer, int64_t n, double lr, double weight_decay,
              double momentum, double dampening, bool nesterov, bool first_step);

// Adam (decoupled_weight_decay false) or AdamW (true). step: t >= 1, counting this update;
// at t == 1 exp_avg and exp_avg_sq are written, not read.
template <typename T>
void adam_step(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, int64_t n, double lr, double beta1, double beta2,
               double eps, double weight_decay, bool decoupled_weight_decay, int64_t step);

// LARS. adapt: false for an excluded parameter (no weight decay, trust 1). For an adapted one
// the norms of p and g are sums of squares in double over a fixed partition of the elements,
// added in a fixed order: the same bits whatever the thread count.
template <typename T>
void lars_step(T* param, const T* grad, T* momentum_buffer, int64_t n, double lr, double weight_decay,
               double momentum, double eta, bool adapt, bool first_step);

}  // namespace cpu

// ---- CUDA (kernels/cuda/optim.cu) -------------------------------------------------------------
// The same contracts, with device pointers; the launches go on the backend's stream and the
// functions return without waiting. LARS computes its norms and trust ratio on the GPU (a
// partial-sum kernel over a fixed number of blocks, a one-block kernel adding the partials in
// order), so no value travels to the host.
namespace cuda {

template <typename T>
void sgd_step(T* param, const T* grad, T* momentum_buffer, int64_t n, double lr, double weight_decay,
              double momentum, double dampening, bool nesterov, bool first_step);

template <typename T>
void adam_step(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, int64_t n, double lr, double beta1, double beta2,
               double eps, double weight_decay, bool decoupled_weight_decay, int64_t step);

template <typename T>
void lars_step(T* param, const T* grad, T* momentum_buffer, int64_t n, double lr, double weight_decay,
               double momentum, double eta, bool adapt, bool first_step);

}  // namespace cuda
}  // namespace sc::kernels
