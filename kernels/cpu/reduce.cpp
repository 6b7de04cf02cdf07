#include "kernels/reduce.h"

#include <cmath>
#include <type_traits>

#include "kernels/strided.h"

namespace sc::kernels::cpu {

template <typename T>
void sum_rows(const T* in, int64_t rows, int64_t cols, T* out) {
  using Acc = double;  // float32 sums of ~1e5 terms lose digits otherwise
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelGrain && rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = in + r * cols;
    Acc acc = 0;
    for (int64_t c = 0; c < cols; ++c) acc += row[c];
    out[r] = static_cast<T>(acc);
  }
}

template <typename T>
void max_rows(const T* in, int64_t rows, int64_t cols, T* values, int64_t* indices) {
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelGrain && rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = in + r * cols;
    int64_t best = 0;
    for (int64_t c = 1; c < cols; ++c) {
      if (std::isnan(row[best])) break;
      if (row[c] > row[best] || std::isnan(row[c])) best = c;
    }
    values[r] = row[best];
    indices[r] = best;
  }
}

template <typename T>
void scatter_rows(const T* grad, const int64_t* indices, int64_t rows, int64_t cols, T* out) {
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelGrain && rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    T* row = out + r * cols;
    for (int64_t c = 0; c < cols; ++c) row[c] = T(0);
    row[indices[r]] = grad[r];
  }
}

template void sum_rows<float>(const float*, int64_t, int64_t, float*);
template void sum_rows<double>(const double*, int64_t, int64_t, double*);
template void max_rows<float>(const float*, int64_t, int64_t, float*, int64_t*);
template void max_rows<double>(const double*, int64_t, int64_t, double*, int64_t*);
template void scatter_rows<float>(const float*, const int64_t*, int64_t, int64_t, float*);
template void scatter_rows<double>(const double*, const int64_t*, int64_t, int64_t, double*);

}  // namespace sc::kernels::cpu
