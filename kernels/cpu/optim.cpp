// Fused optimizer steps on the CPU: a parallel loop over the elements that calls the
// per-element formula of kernels/optim.h. The state is loaded only when it exists, so a
// first step can write into freshly allocated (uninitialised) buffers.
#include "kernels/optim.h"

#include <algorithm>
#include <vector>

#include "kernels/strided.h"  // kParallelGrain

namespace sc::kernels::cpu {

template <typename T>
void sgd_step(T* param, const T* grad, T* momentum_buffer, int64_t n, double lr, double weight_decay,
              double momentum, double dampening, bool nesterov, bool first_step) {
  const SgdConstants<T> c = make_sgd_constants<T>(lr, weight_decay, momentum, dampening, nesterov, first_step);
  const bool read_buffer = c.use_momentum && !c.first_step;
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
  for (int64_t i = 0; i < n; ++i) {
    T p = param[i];
    T buf = read_buffer ? momentum_buffer[i] : T(0);
    sgd_element(c, p, grad[i], buf);
    param[i] = p;
    if (c.use_momentum) momentum_buffer[i] = buf;
  }
}

template <typename T>
void adam_step(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, int64_t n, double lr, double beta1, double beta2,
               double eps, double weight_decay, bool decoupled_weight_decay, int64_t step) {
  const AdamConstants<T> c =
      make_adam_constants<T>(lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, step);
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
  for (int64_t i = 0; i < n; ++i) {
    T p = param[i];
    T m = c.first_step ? T(0) : exp_avg[i];
    T v = c.first_step ? T(0) : exp_avg_sq[i];
    adam_element(c, p, grad[i], m, v);
    param[i] = p;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
  }
}

namespace {

// The sums of p^2 and g^2 over all elements, in double. The elements are cut into chunks of a
// fixed size whatever the thread count; each chunk is summed in order, then the chunk sums are
// added in chunk order. So the result has the same bits on 1 thread or 64.
constexpr int64_t kSumChunk = 16384;

template <typename T>
void lars_sums_of_squares(const LarsConstants<T>& c, const T* param, const T* grad, int64_t n, double& param_sum_sq,
                          double& grad_sum_sq) {
  const int64_t chunks = (n + kSumChunk - 1) / kSumChunk;
  std::vector<double> param_partial(static_cast<size_t>(chunks)), grad_partial(static_cast<size_t>(chunks));
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    const int64_t begin = chunk * kSumChunk, end = std::min(n, begin + kSumChunk);
    double ps = 0, gs = 0;
    for (int64_t i = begin; i < end; ++i) {
      const double p = static_cast<double>(param[i]);
      const double g = static_cast<double>(lars_gradient(c, param[i], grad[i]));
      ps += p * p;
      gs += g * g;
    }
    param_partial[chunk] = ps;
    grad_partial[chunk] = gs;
  }
  param_sum_sq = 0;
  grad_sum_sq = 0;
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    param_sum_sq += param_partial[chunk];
    grad_sum_sq += grad_partial[chunk];
  }
}

}  // namespace

template <typename T>
void lars_step(T* param, const T* grad, T* momentum_buffer, int64_t n, double lr, double weight_decay,
               double momentum, double eta, bool adapt, bool first_step) {
  const LarsConstants<T> c = make_lars_constants<T>(weight_decay, momentum, adapt, first_step);
  double trust = 1.0;
  if (adapt) {
    double param_sum_sq = 0, grad_sum_sq = 0;
    lars_sums_of_squares(c, param, grad, n, param_sum_sq, grad_sum_sq);
    trust = lars_trust_ratio(param_sum_sq, grad_sum_sq, eta);
  }
  const T scaled_lr = static_cast<T>(lr * trust);
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
  for (int64_t i = 0; i < n; ++i) {
    T p = param[i];
    T v = c.first_step ? T(0) : momentum_buffer[i];
    lars_element(c, scaled_lr, p, grad[i], v);
    param[i] = p;
    momentum_buffer[i] = v;
  }
}

#define SC_INSTANTIATE_OPTIM(T)                                                                                    \
  template void sgd_step<T>(T*, const T*, T*, int64_t, double, double, double, double, bool, bool);              \
  template void adam_step<T>(T*, const T*, T*, T*, int64_t, double, double, double, double, double, bool, int64_t); \
  template void lars_step<T>(T*, const T*, T*, int64_t, double, double, double, double, bool, bool);
SC_INSTANTIATE_OPTIM(float)
SC_INSTANTIATE_OPTIM(double)

}  // namespace sc::kernels::cpu
