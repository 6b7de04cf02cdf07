#include "kernels/softmax.h"

#include <cmath>

#include "kernels/strided.h"

namespace sc::kernels::cpu {

namespace {

// log sum_j exp(x_j) over `n` elements `stride` apart, as max + log_sum with
//   max = max_j x_j,  log_sum = log sum_j exp(x_j - max).
// Every exponent is <= 0, so nothing overflows and at least one term is exactly 1.
struct LogSumExp {
  double max;
  double log_sum;
};

template <typename T>
LogSumExp log_sum_exp(const T* x, int64_t n, int64_t stride) {
  double m = -INFINITY;
  for (int64_t j = 0; j < n; ++j) m = std::fmax(m, static_cast<double>(x[j * stride]));
  // All -inf, or a +inf entry: nothing sensible to subtract; x - max gives NaN where
  // PyTorch gives NaN too.
  if (std::isinf(m)) return {m, 0.0};
  double sum = 0;  // double: float32 sums of many terms lose digits otherwise
  for (int64_t j = 0; j < n; ++j) sum += std::exp(static_cast<double>(x[j * stride]) - m);
  return {m, std::log(sum)};
}

}  // namespace

template <typename T>
void softmax_forward(const T* x, int64_t outer, int64_t dim, int64_t inner, bool log, T* y) {
  const int64_t columns = outer * inner;
#pragma omp parallel for schedule(static) if (columns * dim >= kParallelGrain && columns > 1)
  for (int64_t c = 0; c < columns; ++c) {
    const int64_t start = (c / inner) * dim * inner + c % inner;  // element (o, 0, i)
    const LogSumExp lse = log_sum_exp(x + start, dim, inner);
    for (int64_t j = 0; j < dim; ++j) {
      const int64_t at = start + j * inner;
      const double log_p = (static_cast<double>(x[at]) - lse.max) - lse.log_sum;  // log softmax_j
      y[at] = static_cast<T>(log ? log_p : std::exp(log_p));
    }
  }
}

template <typename T>
void softmax_backward(const T* y, const T* dy, int64_t outer, int64_t dim, int64_t inner, bool log, T* dx) {
  const int64_t columns = outer * inner;
#pragma omp parallel for schedule(static) if (columns * dim >= kParallelGrain && columns > 1)
  for (int64_t c = 0; c < columns; ++c) {
    const int64_t start = (c / inner) * dim * inner + c % inner;
    // softmax: sum_j dy_j y_j;  log_softmax: sum_j dy_j.
    double dot = 0;
    for (int64_t j = 0; j < dim; ++j) {
      const int64_t at = start + j * inner;
      dot += log ? static_cast<double>(dy[at]) : static_cast<double>(dy[at]) * static_cast<double>(y[at]);
    }
    for (int64_t j = 0; j < dim; ++j) {
      const int64_t at = start + j * inner;
      const double yj = y[at], dyj = dy[at];
      dx[at] = static_cast<T>(log ? dyj - std::exp(yj) * dot : yj * (dyj - dot));
    }
  }
}

template <typename T>
void cross_entropy_forward(const T* logits, const int64_t* targets, int64_t rows, int64_t classes, T* row_max,
                           T* row_log_sum, T* loss) {
#pragma omp parallel for schedule(static) if (rows * classes >= kParallelGrain && rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    const LogSumExp lse = log_sum_exp(logits + r * classes, classes, 1);
    row_max[r] = static_cast<T>(lse.max);  // exact: it is one of the logits
    row_log_sum[r] = static_cast<T>(lse.log_sum);
  }
  // The mean in a fixed order (one thread) so the loss is the same on any thread count.
  // loss_r = lse_r - logits[r, t_r] = (row_max - logits[r, t_r]) + row_log_sum.
  double total = 0;
  for (int64_t r = 0; r < rows; ++r)
    total += (static_cast<double>(row_max[r]) - static_cast<double>(logits[r * classes + targets[r]])) +
             static_cast<double>(row_log_sum[r]);
  loss[0] = static_cast<T>(total / static_cast<double>(rows));
}

template <typename T>
void cross_entropy_backward(const T* logits, const int64_t* targets, const T* row_max, const T* row_log_sum,
                            int64_t rows, int64_t classes, const T* grad_loss, T* dlogits) {
  // d(mean_r loss_r) / dlogits[r, c] = (p[r, c] - onehot[r, c]) / rows.
  const double scale = static_cast<double>(grad_loss[0]) / static_cast<double>(rows);
#pragma omp parallel for schedule(static) if (rows * classes >= kParallelGrain && rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = logits + r * classes;
    T* out = dlogits + r * classes;
    const double m = row_max[r], log_sum = row_log_sum[r];
    for (int64_t c = 0; c < classes; ++c) {
      const double p = std::exp((static_cast<double>(row[c]) - m) - log_sum);
      out[c] = static_cast<T>((p - (c == targets[r] ? 1.0 : 0.0)) * scale);
    }
  }
}

#define SC_INSTANTIATE_SOFTMAX(T)                                                                                  \
  template void softmax_forward<T>(const T*, int64_t, int64_t, int64_t, bool, T*);                                 \
  template void softmax_backward<T>(const T*, const T*, int64_t, int64_t, int64_t, bool, T*);                      \
  template void cross_entropy_forward<T>(const T*, const int64_t*, int64_t, int64_t, T*, T*, T*);                  \
  template void cross_entropy_backward<T>(const T*, const int64_t*, const T*, const T*, int64_t, int64_t, const T*, \
                                          T*);
SC_INSTANTIATE_SOFTMAX(float)
SC_INSTANTIATE_SOFTMAX(double)
#undef SC_INSTANTIATE_SOFTMAX

}  // namespace sc::kernels::cpu
