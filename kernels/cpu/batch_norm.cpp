#include "kernels/batch_norm.h"

#include <cmath>

#include "kernels/strided.h"

namespace sc::kernels::cpu {

namespace {

// Channel c of a contiguous [N, C, HW] block: N runs of HW values, C * HW apart.
// Calls f(offset) for each of its N * HW elements.
template <typename F>
inline void for_each_in_channel(int64_t N, int64_t C, int64_t HW, int64_t c, F&& f) {
  for (int64_t n = 0; n < N; ++n) {
    const int64_t base = (n * C + c) * HW;
    for (int64_t i = 0; i < HW; ++i) f(base + i);
  }
}

// y = gamma * (x - mean) * invstd + beta over channel c, folded into y = x * scale + shift.
template <typename T>
void normalize_channel(const T* x, int64_t N, int64_t C, int64_t HW, int64_t c, const T* gamma, const T* beta,
                       double mean, double invstd, T* y) {
  const double scale = (gamma ? static_cast<double>(gamma[c]) : 1.0) * invstd;
  const double shift = (beta ? static_cast<double>(beta[c]) : 0.0) - mean * scale;
  for_each_in_channel(N, C, HW, c, [&](int64_t at) { y[at] = static_cast<T>(static_cast<double>(x[at]) * scale + shift); });
}

}  // namespace

template <typename T>
void batch_norm_forward_train(const T* x, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* beta, double eps,
                              double momentum, T* y, T* save_mean, T* save_invstd, T* running_mean, T* running_var) {
  const int64_t M = N * HW;
#pragma omp parallel for schedule(static) if (N * C * HW >= kParallelGrain && C > 1)
  for (int64_t c = 0; c < C; ++c) {
    // Two passes (mean, then squared deviations): no cancellation as in E[x^2] - E[x]^2.
    double sum = 0;
    for_each_in_channel(N, C, HW, c, [&](int64_t at) { sum += x[at]; });
    const double mean = sum / static_cast<double>(M);
    double squares = 0;
    for_each_in_channel(N, C, HW, c, [&](int64_t at) {
      const double d = static_cast<double>(x[at]) - mean;
      squares += d * d;
    });
    const double var = squares / static_cast<double>(M);  // biased: what normalises the batch
    const double invstd = 1.0 / std::sqrt(var + eps);
    save_mean[c] = static_cast<T>(mean);
    save_invstd[c] = static_cast<T>(invstd);
    normalize_channel(x, N, C, HW, c, gamma, beta, mean, invstd, y);
    if (running_mean)
      running_mean[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_mean[c]) + momentum * mean);
    if (running_var) {
      const double unbiased = squares / static_cast<double>(M - 1);
      running_var[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_var[c]) + momentum * unbiased);
    }
  }
}

template <typename T>
void batch_norm_forward_eval(const T* x, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* beta,
                             const T* running_mean, const T* running_var, double eps, T* y, T* save_mean,
                             T* save_invstd) {
#pragma omp parallel for schedule(static) if (N * C * HW >= kParallelGrain && C > 1)
  for (int64_t c = 0; c < C; ++c) {
    const double mean = running_mean[c];
    const double invstd = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps);
    save_mean[c] = static_cast<T>(mean);
    save_invstd[c] = static_cast<T>(invstd);
    normalize_channel(x, N, C, HW, c, gamma, beta, mean, invstd, y);
  }
}

template <typename T>
void batch_norm_backward(const T* x, const T* dy, int64_t N, int64_t C, int64_t HW, const T* gamma,
                         const T* save_mean, const T* save_invstd, bool training, T* dx, T* dgamma, T* dbeta) {
  const double M = static_cast<double>(N * HW);
#pragma omp parallel for schedule(static) if (N * C * HW >= kParallelGrain && C > 1)
  for (int64_t c = 0; c < C; ++c) {
    const double mean = save_mean[c], invstd = save_invstd[c];
    const double g = gamma ? static_cast<double>(gamma[c]) : 1.0;
    double sum_dy = 0, sum_dy_xhat = 0;
    for_each_in_channel(N, C, HW, c, [&](int64_t at) {
      const double xhat = (static_cast<double>(x[at]) - mean) * invstd;
      sum_dy += dy[at];
      sum_dy_xhat += static_cast<double>(dy[at]) * xhat;
    });
    if (dgamma) dgamma[c] = static_cast<T>(sum_dy_xhat);
    if (dbeta) dbeta[c] = static_cast<T>(sum_dy);
    if (!dx) continue;
    if (training) {
      // y depends on x directly and through the batch mean and variance; the last two
      // terms are those paths: they remove dy's mean and its component along xhat.
      const double k = g * invstd / M;
      for_each_in_channel(N, C, HW, c, [&](int64_t at) {
        const double xhat = (static_cast<double>(x[at]) - mean) * invstd;
        dx[at] = static_cast<T>(k * (M * static_cast<double>(dy[at]) - sum_dy - xhat * sum_dy_xhat));
      });
    } else {
      const double k = g * invstd;
      for_each_in_channel(N, C, HW, c, [&](int64_t at) { dx[at] = static_cast<T>(k * static_cast<double>(dy[at])); });
    }
  }
}

#define SC_INSTANTIATE_BATCH_NORM(T)                                                                                  \
  template void batch_norm_forward_train<T>(const T*, int64_t, int64_t, int64_t, const T*, const T*, double, double, \
                                            T*, T*, T*, T*, T*);                                                      \
  template void batch_norm_forward_eval<T>(const T*, int64_t, int64_t, int64_t, const T*, const T*, const T*,         \
                                           const T*, double, T*, T*, T*);                                             \
  template void batch_norm_backward<T>(const T*, const T*, int64_t, int64_t, int64_t, const T*, const T*, const T*,   \
                                       bool, T*, T*, T*);
SC_INSTANTIATE_BATCH_NORM(float)
SC_INSTANTIATE_BATCH_NORM(double)
#undef SC_INSTANTIATE_BATCH_NORM

}  // namespace sc::kernels::cpu
