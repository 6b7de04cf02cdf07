#include "kernels/batch_norm.h"

#include <cmath>
#include <cstring>

#include "kernels/strided.h"

namespace sc::kernels::cpu {

// ---- the reference: one element at a time, every sum and product in double -----------------
namespace reference {

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

}  // namespace reference

// ---- the fast kernels -----------------------------------------------------------------------
// The same formulas, arranged for the vector units and the caches:
//  - a channel is N runs of HW contiguous values; each run is summed in kLanes interleaved
//    accumulators of T (lane l takes elements l, l + kLanes, ...), held in one GCC/Clang
//    vector-extension value, so each block of kLanes elements is one vector add (two or four
//    where the CPU's vectors are narrower); the lanes are then added in order into double, after
//    every run of 256 values or more, after enough short runs to make 16 blocks (RunSums). The
//    order of the additions is fixed by kLanes and the shape, not by the vector width, so every
//    machine and build gives the same bits.
//  - the elementwise passes use per-channel coefficients computed once in double and applied
//    in T: y = x * scale + shift, dx = a * dy + b * (x - mean) + c.
namespace {

constexpr int kLanes = 16;

template <typename T>
struct Lanes {
  typedef T Vec __attribute__((vector_size(kLanes * sizeof(T))));
};

template <typename T>
inline typename Lanes<T>::Vec load_lanes(const T* p) {
  typename Lanes<T>::Vec v;
  std::memcpy(&v, p, sizeof v);  // an unaligned load
  return v;
}

// Two sums over a channel's runs: each run's blocks of kLanes values go into lanes of T, its
// tail (the last HW % kLanes values) into double. The lanes are emptied into double (added in
// lane order) at the end of a run once they hold kFlushBlocks blocks or more, and at the end of
// the channel: a run of 256 values or more is emptied by itself, as before; short runs (7 x 7,
// 4 x 4 images) share the lanes across several runs, instead of paying a 16-step reduction
// every 49 or 16 values. A lane then holds at most 2 * kFlushBlocks - 1 terms of T.
constexpr int64_t kFlushBlocks = 16;

template <typename T>
struct RunSums {
  typename Lanes<T>::Vec lanes_first{}, lanes_second{};
  int64_t blocks = 0;  // blocks added to the lanes since they were last emptied
  double first = 0, second = 0;

  // The lanes' sums in double, lanes emptied.
  void empty_lanes(double& lane_first, double& lane_second) {
    for (int l = 0; l < kLanes; ++l) {
      lane_first += static_cast<double>(lanes_first[l]);
      lane_second += static_cast<double>(lanes_second[l]);
    }
    lanes_first = typename Lanes<T>::Vec{};
    lanes_second = typename Lanes<T>::Vec{};
    blocks = 0;
  }
  // At the end of the channel: what the lanes still hold.
  void finish() {
    if (blocks == 0) return;
    double t1 = 0, t2 = 0;
    empty_lanes(t1, t2);
    first += t1;
    second += t2;
  }
};

// Adds the sums over i in [0, n) of first(a[i], b[i], m[i]) and second(a[i], b[i], m[i]) (one run)
// to `sums`. first and second are generic lambdas: they run on a block of lanes and on the scalar
// tail alike. m may be a or b again when a sum needs only two inputs.
template <typename T, typename First, typename Second>
inline void row_sums(const T* a, const T* b, const T* m, int64_t n, First first, Second second, RunSums<T>& sums) {
  using Vec = typename Lanes<T>::Vec;
  Vec lanes_first = sums.lanes_first, lanes_second = sums.lanes_second;  // locals: kept in registers
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const Vec va = load_lanes(a + i), vb = load_lanes(b + i), vm = load_lanes(m + i);
    lanes_first += first(va, vb, vm);
    lanes_second += second(va, vb, vm);
  }
  sums.lanes_first = lanes_first, sums.lanes_second = lanes_second;
  sums.blocks += n / kLanes;
  double t1 = 0, t2 = 0;
  if (sums.blocks >= kFlushBlocks) sums.empty_lanes(t1, t2);
  for (; i < n; ++i) {
    t1 += static_cast<double>(first(a[i], b[i], m[i]));
    t2 += static_cast<double>(second(a[i], b[i], m[i]));
  }
  sums.first += t1;
  sums.second += t2;
}

// value where out > 0, else 0: the ReLU's backward given its input (or output), on lanes or a
// scalar. On lanes a bitwise and with the comparison's all-ones / all-zeros mask: a select, so a
// NaN value where out <= 0 still gives 0.
template <typename T>
inline T keep_where_positive(T value, T out) {
  return out > T(0) ? value : T(0);
}
template <typename T>
inline typename Lanes<T>::Vec keep_where_positive(typename Lanes<T>::Vec value, typename Lanes<T>::Vec out) {
  using Vec = typename Lanes<T>::Vec;
  const auto positive = out > Vec{};
  return (Vec)((decltype(positive))value & positive);
}

// The sum over channel c of a contiguous [N, C, HW] block of term(x) (one sum: the second
// of row_sums is a dummy).
template <typename T, typename Term>
inline double channel_sum(const T* x, int64_t N, int64_t C, int64_t HW, int64_t c, Term term) {
  RunSums<T> sums;
  for (int64_t n = 0; n < N; ++n) {
    const T* run = x + (n * C + c) * HW;
    row_sums(
        run, run, run, HW, [&](auto v, auto, auto) { return term(v); }, [](auto v, auto, auto) { return v - v; }, sums);
  }
  sums.finish();
  return sums.first;
}

// y = x * scale + shift over channel c, then max(y, 0) when relu (the fused batch_norm_relu).
template <typename T>
void normalize_channel_fast(const T* x, int64_t N, int64_t C, int64_t HW, int64_t c, T scale, T shift, bool relu,
                            T* y) {
  for (int64_t n = 0; n < N; ++n) {
    const int64_t base = (n * C + c) * HW;
    const T* __restrict__ xr = x + base;
    T* __restrict__ yr = y + base;
    if (relu) {
      for (int64_t i = 0; i < HW; ++i) {
        const T v = xr[i] * scale + shift;
        yr[i] = v > T(0) ? v : T(0);
      }
    } else {
      for (int64_t i = 0; i < HW; ++i) yr[i] = xr[i] * scale + shift;
    }
  }
}

}  // namespace

// relu_scale / relu_shift (the fused op; null otherwise) receive the coefficients in T that the
// normalising pass used, from which the backward recomputes the ReLU's mask.
template <typename T>
void forward_train_impl(const T* x, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* beta, double eps,
                        double momentum, T* y, T* save_mean, T* save_invstd, T* running_mean, T* running_var,
                        bool relu, T* relu_scale, T* relu_shift) {
  const int64_t M = N * HW;
#pragma omp parallel for schedule(static) if (N * C * HW >= kParallelGrain && C > 1)
  for (int64_t c = 0; c < C; ++c) {
    // Two passes (mean, then squared deviations): no cancellation as in E[x^2] - E[x]^2.
    const double mean = channel_sum(x, N, C, HW, c, [](auto v) { return v; }) / static_cast<double>(M);
    const T mean_t = static_cast<T>(mean);
    const double squares = channel_sum(x, N, C, HW, c, [mean_t](auto v) {
      const auto d = v - mean_t;
      return d * d;
    });
    const double var = squares / static_cast<double>(M);  // biased: what normalises the batch
    const double invstd = 1.0 / std::sqrt(var + eps);
    save_mean[c] = mean_t;
    save_invstd[c] = static_cast<T>(invstd);
    const double scale = (gamma ? static_cast<double>(gamma[c]) : 1.0) * invstd;
    const double shift = (beta ? static_cast<double>(beta[c]) : 0.0) - mean * scale;
    normalize_channel_fast(x, N, C, HW, c, static_cast<T>(scale), static_cast<T>(shift), relu, y);
    if (relu_scale) relu_scale[c] = static_cast<T>(scale), relu_shift[c] = static_cast<T>(shift);
    if (running_mean)
      running_mean[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_mean[c]) + momentum * mean);
    if (running_var) {
      const double unbiased = squares / static_cast<double>(M - 1);
      running_var[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_var[c]) + momentum * unbiased);
    }
  }
}

template <typename T>
void forward_eval_impl(const T* x, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* beta,
                       const T* running_mean, const T* running_var, double eps, T* y, T* save_mean, T* save_invstd,
                       bool relu, T* relu_scale, T* relu_shift) {
#pragma omp parallel for schedule(static) if (N * C * HW >= kParallelGrain && C > 1)
  for (int64_t c = 0; c < C; ++c) {
    const double mean = running_mean[c];
    const double invstd = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps);
    save_mean[c] = static_cast<T>(mean);
    save_invstd[c] = static_cast<T>(invstd);
    const double scale = (gamma ? static_cast<double>(gamma[c]) : 1.0) * invstd;
    const double shift = (beta ? static_cast<double>(beta[c]) : 0.0) - mean * scale;
    normalize_channel_fast(x, N, C, HW, c, static_cast<T>(scale), static_cast<T>(shift), relu, y);
    if (relu_scale) relu_scale[c] = static_cast<T>(scale), relu_shift[c] = static_cast<T>(shift);
  }
}

// kMasked: the fused batch_norm_relu's backward. dy is then the gradient with respect to the
// ReLU's output, and is zeroed where the ReLU's input x * relu_scale[c] + relu_shift[c] (computed
// as in the forward, the same bits) was not positive.
template <typename T, bool kMasked>
void batch_norm_backward_impl(const T* x, const T* dy, int64_t N, int64_t C, int64_t HW, const T* gamma,
                              const T* save_mean, const T* save_invstd, bool training, T* dx, T* dgamma, T* dbeta,
                              const T* relu_scale, const T* relu_shift) {
  const double M = static_cast<double>(N * HW);
#pragma omp parallel for schedule(static) if (N * C * HW >= kParallelGrain && C > 1)
  for (int64_t c = 0; c < C; ++c) {
    const T mean = save_mean[c];
    const double invstd = save_invstd[c];
    const double g = gamma ? static_cast<double>(gamma[c]) : 1.0;
    const T scale = kMasked ? relu_scale[c] : T(0), shift = kMasked ? relu_shift[c] : T(0);
    // sum(dy * xhat) = invstd * sum(dy * (x - mean)): the lanes sum the centred product.
    RunSums<T> sums;  // sum(dy) and sum(dy * (x - mean)), one pass over x and dy for both
    for (int64_t n = 0; n < N; ++n) {
      const T* __restrict__ xr = x + (n * C + c) * HW;
      const T* __restrict__ dyr = dy + (n * C + c) * HW;
      if constexpr (kMasked) {
        // The ReLU's gradient first: dy where its input was positive, else 0.
        row_sums(
            xr, dyr, dyr, HW, [=](auto v, auto g, auto) { return keep_where_positive<T>(g, v * scale + shift); },
            [=](auto v, auto g, auto) { return keep_where_positive<T>(g, v * scale + shift) * (v - mean); }, sums);
      } else {
        row_sums(
            xr, dyr, dyr, HW, [](auto, auto g, auto) { return g; },
            [mean](auto v, auto g, auto) { return g * (v - mean); }, sums);
      }
    }
    sums.finish();
    const double sum_dy = sums.first, sum_dy_centred = sums.second;
    const double sum_dy_xhat = invstd * sum_dy_centred;
    if (dgamma) dgamma[c] = static_cast<T>(sum_dy_xhat);
    if (dbeta) dbeta[c] = static_cast<T>(sum_dy);
    if (!dx) continue;
    // training: dx = k * (M * dy - sum_dy - xhat * sum_dy_xhat), k = g * invstd / M
    //             = a * dy + b * (x - mean) + c0;  evaluation: dx = g * invstd * dy.
    const double k = g * invstd / M;
    const T a = static_cast<T>(training ? k * M : g * invstd);
    const T b = static_cast<T>(training ? -k * sum_dy_xhat * invstd : 0.0);
    const T c0 = static_cast<T>(training ? -k * sum_dy : 0.0);
    for (int64_t n = 0; n < N; ++n) {
      const int64_t base = (n * C + c) * HW;
      const T* __restrict__ xr = x + base;
      const T* __restrict__ dyr = dy + base;
      T* __restrict__ dxr = dx + base;
      if constexpr (kMasked) {
        for (int64_t i = 0; i < HW; ++i)
          dxr[i] = a * keep_where_positive<T>(dyr[i], xr[i] * scale + shift) + b * (xr[i] - mean) + c0;
      } else {
        for (int64_t i = 0; i < HW; ++i) dxr[i] = a * dyr[i] + b * (xr[i] - mean) + c0;
      }
    }
  }
}

template <typename T>
void batch_norm_forward_train(const T* x, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* beta, double eps,
                              double momentum, T* y, T* save_mean, T* save_invstd, T* running_mean, T* running_var) {
  forward_train_impl<T>(x, N, C, HW, gamma, beta, eps, momentum, y, save_mean, save_invstd, running_mean, running_var,
                        false, nullptr, nullptr);
}

template <typename T>
void batch_norm_forward_eval(const T* x, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* beta,
                             const T* running_mean, const T* running_var, double eps, T* y, T* save_mean,
                             T* save_invstd) {
  forward_eval_impl<T>(x, N, C, HW, gamma, beta, running_mean, running_var, eps, y, save_mean, save_invstd, false,
                       nullptr, nullptr);
}

template <typename T>
void batch_norm_backward(const T* x, const T* dy, int64_t N, int64_t C, int64_t HW, const T* gamma,
                         const T* save_mean, const T* save_invstd, bool training, T* dx, T* dgamma, T* dbeta) {
  batch_norm_backward_impl<T, false>(x, dy, N, C, HW, gamma, save_mean, save_invstd, training, dx, dgamma, dbeta,
                                     nullptr, nullptr);
}

template <typename T>
void batch_norm_relu_forward_train(const T* x, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* beta,
                                   double eps, double momentum, T* y, T* save_mean, T* save_invstd, T* running_mean,
                                   T* running_var, T* relu_scale, T* relu_shift) {
  forward_train_impl<T>(x, N, C, HW, gamma, beta, eps, momentum, y, save_mean, save_invstd, running_mean, running_var,
                        true, relu_scale, relu_shift);
}

template <typename T>
void batch_norm_relu_forward_eval(const T* x, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* beta,
                                  const T* running_mean, const T* running_var, double eps, T* y, T* save_mean,
                                  T* save_invstd, T* relu_scale, T* relu_shift) {
  forward_eval_impl<T>(x, N, C, HW, gamma, beta, running_mean, running_var, eps, y, save_mean, save_invstd, true,
                       relu_scale, relu_shift);
}

template <typename T>
void batch_norm_relu_backward(const T* x, const T* relu_scale, const T* relu_shift, const T* dy, int64_t N, int64_t C,
                              int64_t HW, const T* gamma, const T* save_mean, const T* save_invstd, bool training,
                              T* dx, T* dgamma, T* dbeta) {
  batch_norm_backward_impl<T, true>(x, dy, N, C, HW, gamma, save_mean, save_invstd, training, dx, dgamma, dbeta,
                                    relu_scale, relu_shift);
}

#define SC_INSTANTIATE_BATCH_NORM(T)                                                                                  \
  template void batch_norm_forward_train<T>(const T*, int64_t, int64_t, int64_t, const T*, const T*, double, double, \
                                            T*, T*, T*, T*, T*);                                                      \
  template void batch_norm_forward_eval<T>(const T*, int64_t, int64_t, int64_t, const T*, const T*, const T*,         \
                                           const T*, double, T*, T*, T*);                                             \
  template void batch_norm_backward<T>(const T*, const T*, int64_t, int64_t, int64_t, const T*, const T*, const T*,   \
                                       bool, T*, T*, T*);
#define SC_INSTANTIATE_BATCH_NORM_RELU(T)                                                                            \
  template void batch_norm_relu_forward_train<T>(const T*, int64_t, int64_t, int64_t, const T*, const T*, double,   \
                                                 double, T*, T*, T*, T*, T*, T*, T*);                                \
  template void batch_norm_relu_forward_eval<T>(const T*, int64_t, int64_t, int64_t, const T*, const T*, const T*,  \
                                                const T*, double, T*, T*, T*, T*, T*);                               \
  template void batch_norm_relu_backward<T>(const T*, const T*, const T*, const T*, int64_t, int64_t, int64_t,      \
                                            const T*, const T*, const T*, bool, T*, T*, T*);
SC_INSTANTIATE_BATCH_NORM(float)
SC_INSTANTIATE_BATCH_NORM(double)
SC_INSTANTIATE_BATCH_NORM_RELU(float)
SC_INSTANTIATE_BATCH_NORM_RELU(double)
namespace reference {
SC_INSTANTIATE_BATCH_NORM(float)
SC_INSTANTIATE_BATCH_NORM(double)
}  // namespace reference
#undef SC_INSTANTIATE_BATCH_NORM
#undef SC_INSTANTIATE_BATCH_NORM_RELU

}  // namespace sc::kernels::cpu
