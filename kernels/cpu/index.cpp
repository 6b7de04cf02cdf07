#include "kernels/index.h"

#include <algorithm>

#include "kernels/strided.h"

namespace sc::kernels::cpu {

template <typename T>
void gather_rows(const T* in, int64_t outer, int64_t in_rows, int64_t inner, const int64_t* index, int64_t index_len,
                 T* out) {
  // Each (o, j) writes its own output row, so every pair can run on any thread.
  const int64_t pairs = outer * index_len;
#pragma omp parallel for schedule(static) if (pairs * inner >= kParallelGrain && pairs > 1)
  for (int64_t p = 0; p < pairs; ++p) {
    const int64_t o = p / index_len, j = p % index_len;
    const T* src = in + (o * in_rows + index[j]) * inner;
    std::copy(src, src + inner, out + p * inner);
  }
}

template <typename T>
void scatter_add_rows(const T* grad, int64_t outer, int64_t index_len, int64_t inner, const int64_t* index,
                      int64_t out_rows, T* out) {
  // Two output rows may receive the same index, so threads split what never collides:
  // the outer slices and blocks of columns within a row. Inside one (slice, block) the
  // loop over the index is serial, which fixes the order of the additions.
  constexpr int64_t kBlock = 512;
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
  const int64_t tasks = outer * blocks;
#pragma omp parallel for schedule(static) if (outer * std::max(index_len, out_rows) * inner >= kParallelGrain && tasks > 1)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t o = t / blocks;
    const int64_t begin = (t % blocks) * kBlock;
    const int64_t end = std::min(inner, begin + kBlock);
    T* dst = out + o * out_rows * inner;
    for (int64_t r = 0; r < out_rows; ++r) std::fill(dst + r * inner + begin, dst + r * inner + end, T(0));
    const T* src = grad + o * index_len * inner;
    for (int64_t j = 0; j < index_len; ++j) {
      T* row = dst + index[j] * inner;
      const T* g = src + j * inner;
      for (int64_t c = begin; c < end; ++c) row[c] += g[c];
    }
  }
}

// Gathers serve every dtype (int64 labels too); scatter-adds only gradients.
template void gather_rows<float>(const float*, int64_t, int64_t, int64_t, const int64_t*, int64_t, float*);
template void gather_rows<double>(const double*, int64_t, int64_t, int64_t, const int64_t*, int64_t, double*);
template void gather_rows<int64_t>(const int64_t*, int64_t, int64_t, int64_t, const int64_t*, int64_t, int64_t*);
template void gather_rows<int32_t>(const int32_t*, int64_t, int64_t, int64_t, const int64_t*, int64_t, int32_t*);
template void scatter_add_rows<float>(const float*, int64_t, int64_t, int64_t, const int64_t*, int64_t, float*);
template void scatter_add_rows<double>(const double*, int64_t, int64_t, int64_t, const int64_t*, int64_t, double*);

}  // namespace sc::kernels::cpu
