#include "kernels/nt_xent.h"

#include <cmath>

#include "kernels/gemm.h"
#include "kernels/strided.h"

namespace sc::kernels::cpu {

template <typename T>
void nt_xent_forward(const T* zn, int64_t rows, int64_t d, double inv_temperature, T* sim, T* row_max,
                     T* row_log_sum, T* loss) {
  // S = zn zn^T / t, the 1/t folded into the GEMM's alpha.
  gemm<T>(false, true, rows, rows, d, static_cast<T>(inv_temperature), zn, d, zn, d, T(0), sim, rows);

#pragma omp parallel for schedule(static) if (rows * rows >= kParallelGrain)
  for (int64_t i = 0; i < rows; ++i) {
    const T* s = sim + i * rows;
    // log sum_{k != i} exp(s_k), max-subtracted. The diagonal is skipped, not masked with
    // a large negative number, so no "-1e9" can leak into the sum or its gradient.
    double m = -INFINITY;
    for (int64_t k = 0; k < rows; ++k)
      if (k != i) m = std::fmax(m, static_cast<double>(s[k]));
    double sum = 0;
    for (int64_t k = 0; k < rows; ++k)
      if (k != i) sum += std::exp(static_cast<double>(s[k]) - m);
    row_max[i] = static_cast<T>(m);  // exact: one of the S[i, k]
    row_log_sum[i] = static_cast<T>(std::log(sum));
  }

  // The mean in a fixed order (one thread), so the loss does not depend on the thread count.
  // loss_i = lse_i - S[i, pos(i)] = (row_max_i - S[i, pos(i)]) + row_log_sum_i.
  double total = 0;
  for (int64_t i = 0; i < rows; ++i)
    total += (static_cast<double>(row_max[i]) - static_cast<double>(sim[i * rows + nt_xent_positive(i, rows)])) +
             static_cast<double>(row_log_sum[i]);
  loss[0] = static_cast<T>(total / static_cast<double>(rows));
}

template <typename T>
void nt_xent_backward(const T* zn, const T* sim, const T* row_max, const T* row_log_sum, int64_t rows, int64_t d,
                      double inv_temperature, const T* grad_loss, T* workspace, T* dzn) {
  const double scale = static_cast<double>(grad_loss[0]) / static_cast<double>(rows);

  // dS: row i is (p_i - onehot(pos(i))) * g / rows, p_i the softmax of S[i, :] over k != i.
#pragma omp parallel for schedule(static) if (rows * rows >= kParallelGrain)
  for (int64_t i = 0; i < rows; ++i) {
    const T* s = sim + i * rows;
    T* ds = workspace + i * rows;
    const int64_t pos = nt_xent_positive(i, rows);
    const double m = row_max[i], log_sum = row_log_sum[i];
    for (int64_t k = 0; k < rows; ++k) {
      const double p = k == i ? 0.0 : std::exp((static_cast<double>(s[k]) - m) - log_sum);
      ds[k] = static_cast<T>((p - (k == pos ? 1.0 : 0.0)) * scale);
    }
  }

  // zn appears on both sides of S = zn zn^T / t, so dzn = (dS + dS^T) zn / t. Symmetrise dS
  // in place: thread i owns the pairs (i, k), (k, i) with k >= i, so no two threads meet.
#pragma omp parallel for schedule(static) if (rows * rows >= kParallelGrain)
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t k = i; k < rows; ++k) {
      const T both = workspace[i * rows + k] + workspace[k * rows + i];
      workspace[i * rows + k] = both;
      workspace[k * rows + i] = both;
    }
  }

  gemm<T>(false, false, rows, d, rows, static_cast<T>(inv_temperature), workspace, rows, zn, d, T(0), dzn, d);
}

#define SC_INSTANTIATE_NT_XENT(T)                                                                         \
  template void nt_xent_forward<T>(const T*, int64_t, int64_t, double, T*, T*, T*, T*);                   \
  template void nt_xent_backward<T>(const T*, const T*, const T*, const T*, int64_t, int64_t, double, const T*, T*, \
                                    T*);
SC_INSTANTIATE_NT_XENT(float)
SC_INSTANTIATE_NT_XENT(double)
#undef SC_INSTANTIATE_NT_XENT

}  // namespace sc::kernels::cpu
