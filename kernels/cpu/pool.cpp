// Pooling on the CPU: one OpenMP task per (n, c) plane, so no two threads ever write
// the same element and the backward needs no atomics.
#include "kernels/pool.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <type_traits>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

#include "base/error.h"
#include "kernels/gemm.h"  // gemm_path::float32_path: the CPU path in use
#include "kernels/strided.h"

namespace sc::kernels::cpu {

namespace {

// The part of a window that lies inside the input: [begin, end) along one axis.
struct Span {
  int64_t begin, end;
};
Span window(int64_t out_index, int64_t stride, int64_t pad, int64_t kernel, int64_t in_size) {
  const int64_t first = out_index * stride - pad;
  return {std::max<int64_t>(first, 0), std::min(first + kernel, in_size)};
}

}  // namespace

// The 2x2, stride-2, unpadded window of the encoders (nn/convnet.h), without the general
// loop's window clipping: the same four candidates in the same order under the same rule
// (a later value wins only if it is larger or NaN), so the same outputs and argmax. It runs
// in every forward, evaluation included, where the general loop took about a sixth of a
// ConvNet's time.
template <typename T>
void max_pool2d_forward_2x2(const T* x, T* y, int32_t* argmax, const Pool2dShape& s) {
  const int64_t W = s.W, OH = s.OH, OW = s.OW;  // locals: the stores below cannot change them
  const int64_t in_plane = s.H * W, out_plane = OH * OW;
#pragma omp parallel for schedule(static) if (s.planes() * out_plane * 4 >= kParallelGrain)
  for (int64_t p = 0; p < s.planes(); ++p) {
    const T* in = x + p * in_plane;
    T* out = y + p * out_plane;
    int32_t* arg = argmax + p * out_plane;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const int64_t top = 2 * oh * W;
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t at[4] = {top + 2 * ow, top + 2 * ow + 1, top + W + 2 * ow, top + W + 2 * ow + 1};
        int64_t best = at[0];
        T best_value = in[best];
        for (int k = 1; k < 4; ++k) {
          // Selects rather than branches: which value wins is data-dependent, and a
          // mispredicted branch per window cost more than the comparisons themselves.
          const T v = in[at[k]];
          const bool wins = (v > best_value) | (v != v);  // v != v: NaN
          best = wins ? at[k] : best;
          best_value = wins ? v : best_value;
        }
        out[oh * OW + ow] = best_value;
        arg[oh * OW + ow] = static_cast<int32_t>(best);
      }
    }
  }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// The same 2x2 window with AVX-512, 16 outputs at a time: the two input rows are loaded (masked
// at a row's end), split into even and odd columns, and the four candidates go through the
// same chain of comparisons as above, lane by lane, so the outputs and the argmax are the same.
// The scalar loop above vectorises only in blocks of 8 outputs and falls back to branches for
// the rest of a row: at 14 x 14 and 28 x 28 most of every row (7 or 14 outputs).
__attribute__((target("avx512f"))) void max_pool2d_forward_2x2_avx512(const float* x, float* y, int32_t* argmax,
                                                                       const Pool2dShape& s) {
  const int64_t W = s.W, OH = s.OH, OW = s.OW;
  const int64_t in_plane = s.H * W, out_plane = OH * OW;
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512i lane_twice = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
#pragma omp parallel for schedule(static) if (s.planes() * out_plane * 4 >= kParallelGrain)
  for (int64_t p = 0; p < s.planes(); ++p) {
    const float* in = x + p * in_plane;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const float* upper = in + 2 * oh * W;
      const float* lower = upper + W;
      for (int64_t ow = 0; ow < OW; ow += 16) {
        const int64_t count = std::min<int64_t>(16, OW - ow);  // outputs in this block
        const int64_t inputs = 2 * count;                        // input columns per row
        const __mmask16 first_half = inputs >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << inputs) - 1);
        const __mmask16 second_half = inputs <= 16 ? __mmask16(0) : __mmask16((1u << (inputs - 16)) - 1);
        const __m512 u0 = _mm512_maskz_loadu_ps(first_half, upper + 2 * ow);
        const __m512 u1 = _mm512_maskz_loadu_ps(second_half, upper + 2 * ow + 16);
        const __m512 l0 = _mm512_maskz_loadu_ps(first_half, lower + 2 * ow);
        const __m512 l1 = _mm512_maskz_loadu_ps(second_half, lower + 2 * ow + 16);
        const __m512 candidates[3] = {_mm512_permutex2var_ps(u0, odd, u1), _mm512_permutex2var_ps(l0, even, l1),
                                      _mm512_permutex2var_ps(l0, odd, l1)};
        // the candidates' input indices: top-left, top-right, bottom-left, bottom-right
        const __m512i left = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int32_t>(2 * oh * W + 2 * ow)), lane_twice);
        const __m512i index[3] = {_mm512_add_epi32(left, _mm512_set1_epi32(1)),
                                  _mm512_add_epi32(left, _mm512_set1_epi32(static_cast<int32_t>(W))),
                                  _mm512_add_epi32(left, _mm512_set1_epi32(static_cast<int32_t>(W + 1)))};
        __m512 best_value = _mm512_permutex2var_ps(u0, even, u1);
        __m512i best = left;
        for (int k = 0; k < 3; ++k) {
          const __m512 v = candidates[k];
          // a later value wins if it is larger, or NaN (v != v), as in the scalar loop
          const __mmask16 wins = _mm512_cmp_ps_mask(v, best_value, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
          best_value = _mm512_mask_mov_ps(best_value, wins, v);
          best = _mm512_mask_mov_epi32(best, wins, index[k]);
        }
        const __mmask16 store = __mmask16((1u << count) - 1);
        _mm512_mask_storeu_ps(y + p * out_plane + oh * OW + ow, store, best_value);
        _mm512_mask_storeu_epi32(argmax + p * out_plane + oh * OW + ow, store, best);
      }
    }
  }
}

// The backward of the same 2x2 window: the windows do not overlap, so each input element gets
// the gradient of the one window that read it when it was that window's argmax, else 0. So
// instead of zeroing the plane and scattering, every input element is written once: 16 windows
// at a time, each of the four positions takes 0 + dy where the argmax names it (0 + dy, as the
// scatter adds to zero: a -0 gradient becomes +0 there too), and the even and odd columns are
// interleaved back into the two input rows. A last odd row or column, read by no window, is 0.
// 0 + dy where the argmax is left + offset, else 0. A function of its own, not a lambda: a
// lambda does not inherit its caller's target("avx512f"), and a build without -march=native
// then refuses its intrinsics.
__attribute__((target("avx512f"))) inline __m512 gradient_where(__m512i argmax, __m512i left, int32_t offset, __m512 dy) {
  const __mmask16 here = _mm512_cmpeq_epi32_mask(argmax, _mm512_add_epi32(left, _mm512_set1_epi32(offset)));
  return _mm512_maskz_add_ps(here, _mm512_setzero_ps(), dy);
}

__attribute__((target("avx512f"))) void max_pool2d_backward_2x2_avx512(const float* grad_y, const int32_t* argmax,
                                                                        float* grad_x, const Pool2dShape& s) {
  const int64_t W = s.W, OH = s.OH, OW = s.OW;
  const int64_t in_plane = s.H * W, out_plane = OH * OW;
  const __m512i lane_twice = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  // interleave a (even columns) and b (odd columns): a0 b0 a1 b1 ... in two halves
  const __m512i first_half = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i second_half = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
#pragma omp parallel for schedule(static) if (s.planes() * in_plane >= kParallelGrain)
  for (int64_t p = 0; p < s.planes(); ++p) {
    float* gx = grad_x + p * in_plane;
    const float* gy = grad_y + p * out_plane;
    const int32_t* arg = argmax + p * out_plane;
    for (int64_t oh = 0; oh < OH; ++oh) {
      float* upper = gx + 2 * oh * W;
      float* lower = upper + W;
      for (int64_t ow = 0; ow < OW; ow += 16) {
        const int64_t count = std::min<int64_t>(16, OW - ow), inputs = 2 * count;
        const __mmask16 outputs = __mmask16((1u << count) - 1);
        const __mmask16 low = inputs >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << inputs) - 1);
        const __mmask16 high = inputs <= 16 ? __mmask16(0) : __mmask16((1u << (inputs - 16)) - 1);
        const __m512 g = _mm512_maskz_loadu_ps(outputs, gy + oh * OW + ow);
        const __m512i a = _mm512_maskz_loadu_epi32(outputs, arg + oh * OW + ow);
        const __m512i left = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int32_t>(2 * oh * W + 2 * ow)), lane_twice);
        const __m512 top_left = gradient_where(a, left, 0, g), top_right = gradient_where(a, left, 1, g);
        const __m512 bottom_left = gradient_where(a, left, static_cast<int32_t>(W), g);
        const __m512 bottom_right = gradient_where(a, left, static_cast<int32_t>(W + 1), g);
        _mm512_mask_storeu_ps(upper + 2 * ow, low, _mm512_permutex2var_ps(top_left, first_half, top_right));
        _mm512_mask_storeu_ps(upper + 2 * ow + 16, high, _mm512_permutex2var_ps(top_left, second_half, top_right));
        _mm512_mask_storeu_ps(lower + 2 * ow, low, _mm512_permutex2var_ps(bottom_left, first_half, bottom_right));
        _mm512_mask_storeu_ps(lower + 2 * ow + 16, high,
                              _mm512_permutex2var_ps(bottom_left, second_half, bottom_right));
      }
      if (W % 2 == 1) upper[W - 1] = 0.0f, lower[W - 1] = 0.0f;  // the column no window reads
    }
    if (s.H % 2 == 1) std::fill(gx + (s.H - 1) * W, gx + s.H * W, 0.0f);  // the row no window reads
  }
}
#else
void max_pool2d_forward_2x2_avx512(const float*, float*, int32_t*, const Pool2dShape&) {
  throw Error("max_pool2d: this build has no AVX-512 path");
}
void max_pool2d_backward_2x2_avx512(const float*, const int32_t*, float*, const Pool2dShape&) {
  throw Error("max_pool2d: this build has no AVX-512 path");
}
#endif

namespace pool_path {
void max_pool_2x2_portable(const float* x, float* y, int32_t* argmax, const Pool2dShape& s) {
  max_pool2d_forward_2x2(x, y, argmax, s);
}
void max_pool_2x2_avx512(const float* x, float* y, int32_t* argmax, const Pool2dShape& s) {
  max_pool2d_forward_2x2_avx512(x, y, argmax, s);
}
void max_pool_2x2_backward_avx512(const float* grad_y, const int32_t* argmax, float* grad_x, const Pool2dShape& s) {
  max_pool2d_backward_2x2_avx512(grad_y, argmax, grad_x, s);
}
}  // namespace pool_path

template <typename T>
void max_pool2d_forward(const T* x, T* y, int32_t* argmax, const Pool2dShape& s) {
  if (s.KH == 2 && s.KW == 2 && s.stride_h == 2 && s.stride_w == 2 && s.pad_h == 0 && s.pad_w == 0) {
    if constexpr (std::is_same_v<T, float>) {
      // AVX-512 where the GEMM takes it too: SC_CPU_GEMM=avx2 or eigen runs the portable loop.
      if (gemm_path::float32_path() == gemm_path::Float32Path::Avx512)
        return max_pool2d_forward_2x2_avx512(x, y, argmax, s);
    }
    max_pool2d_forward_2x2(x, y, argmax, s);
    return;
  }
  const int64_t in_plane = s.H * s.W, out_plane = s.OH * s.OW;
#pragma omp parallel for schedule(static) if (s.planes() * out_plane * s.KH * s.KW >= kParallelGrain)
  for (int64_t p = 0; p < s.planes(); ++p) {
    const T* in = x + p * in_plane;
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      const Span rows = window(oh, s.stride_h, s.pad_h, s.KH, s.H);
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        const Span cols = window(ow, s.stride_w, s.pad_w, s.KW, s.W);
        // padding <= kernel / 2 (checked by the op) keeps every window non-empty.
        int64_t best = rows.begin * s.W + cols.begin;
        T best_value = in[best];
        for (int64_t ih = rows.begin; ih < rows.end; ++ih) {
          for (int64_t iw = cols.begin; iw < cols.end; ++iw) {
            const T v = in[ih * s.W + iw];
            if (v > best_value || std::isnan(v)) {  // NaN propagates, as in PyTorch
              best = ih * s.W + iw;
              best_value = v;
            }
          }
        }
        y[p * out_plane + oh * s.OW + ow] = best_value;
        argmax[p * out_plane + oh * s.OW + ow] = static_cast<int32_t>(best);
      }
    }
  }
}

template <typename T>
void max_pool2d_backward(const T* grad_y, const int32_t* argmax, T* grad_x, const Pool2dShape& s) {
  if constexpr (std::is_same_v<T, float>) {
    if (s.KH == 2 && s.KW == 2 && s.stride_h == 2 && s.stride_w == 2 && s.pad_h == 0 && s.pad_w == 0 &&
        gemm_path::float32_path() == gemm_path::Float32Path::Avx512)
      return max_pool2d_backward_2x2_avx512(grad_y, argmax, grad_x, s);
  }
  const int64_t in_plane = s.H * s.W, out_plane = s.OH * s.OW;
#pragma omp parallel for schedule(static) if (s.planes() * in_plane >= kParallelGrain)
  for (int64_t p = 0; p < s.planes(); ++p) {
    T* gx = grad_x + p * in_plane;
    std::fill(gx, gx + in_plane, T(0));
    for (int64_t o = 0; o < out_plane; ++o) gx[argmax[p * out_plane + o]] += grad_y[p * out_plane + o];
  }
}

template <typename T>
void avg_pool2d_forward(const T* x, T* y, const Pool2dShape& s) {
  const int64_t in_plane = s.H * s.W, out_plane = s.OH * s.OW;
  const T divisor = static_cast<T>(s.KH * s.KW);  // padding counts: always the full window
#pragma omp parallel for schedule(static) if (s.planes() * out_plane * s.KH * s.KW >= kParallelGrain)
  for (int64_t p = 0; p < s.planes(); ++p) {
    const T* in = x + p * in_plane;
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      const Span rows = window(oh, s.stride_h, s.pad_h, s.KH, s.H);
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        const Span cols = window(ow, s.stride_w, s.pad_w, s.KW, s.W);
        T sum = 0;
        for (int64_t ih = rows.begin; ih < rows.end; ++ih)
          for (int64_t iw = cols.begin; iw < cols.end; ++iw) sum += in[ih * s.W + iw];
        y[p * out_plane + oh * s.OW + ow] = sum / divisor;
      }
    }
  }
}

template <typename T>
void avg_pool2d_backward(const T* grad_y, T* grad_x, const Pool2dShape& s) {
  const int64_t in_plane = s.H * s.W, out_plane = s.OH * s.OW;
  const T divisor = static_cast<T>(s.KH * s.KW);
#pragma omp parallel for schedule(static) if (s.planes() * out_plane * s.KH * s.KW >= kParallelGrain)
  for (int64_t p = 0; p < s.planes(); ++p) {
    T* gx = grad_x + p * in_plane;
    std::fill(gx, gx + in_plane, T(0));
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      const Span rows = window(oh, s.stride_h, s.pad_h, s.KH, s.H);
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        const Span cols = window(ow, s.stride_w, s.pad_w, s.KW, s.W);
        const T share = grad_y[p * out_plane + oh * s.OW + ow] / divisor;
        for (int64_t ih = rows.begin; ih < rows.end; ++ih)
          for (int64_t iw = cols.begin; iw < cols.end; ++iw) gx[ih * s.W + iw] += share;
      }
    }
  }
}

template <typename T>
void global_avg_pool2d_forward(const T* x, T* y, int64_t planes, int64_t plane_size) {
#pragma omp parallel for schedule(static) if (planes * plane_size >= kParallelGrain)
  for (int64_t p = 0; p < planes; ++p) {
    const T* in = x + p * plane_size;
    double sum = 0;  // float32 accumulation would drift on large planes
    for (int64_t i = 0; i < plane_size; ++i) sum += in[i];
    y[p] = static_cast<T>(sum / static_cast<double>(plane_size));
  }
}

template <typename T>
void global_avg_pool2d_backward(const T* grad_y, T* grad_x, int64_t planes, int64_t plane_size) {
#pragma omp parallel for schedule(static) if (planes * plane_size >= kParallelGrain)
  for (int64_t p = 0; p < planes; ++p) {
    const T share = static_cast<T>(grad_y[p] / static_cast<double>(plane_size));
    std::fill(grad_x + p * plane_size, grad_x + (p + 1) * plane_size, share);
  }
}

#define SC_INSTANTIATE_POOL(T)                                                                    \
  template void max_pool2d_forward<T>(const T*, T*, int32_t*, const Pool2dShape&);                \
  template void max_pool2d_backward<T>(const T*, const int32_t*, T*, const Pool2dShape&);         \
  template void avg_pool2d_forward<T>(const T*, T*, const Pool2dShape&);                          \
  template void avg_pool2d_backward<T>(const T*, T*, const Pool2dShape&);                         \
  template void global_avg_pool2d_forward<T>(const T*, T*, int64_t, int64_t);                     \
  template void global_avg_pool2d_backward<T>(const T*, T*, int64_t, int64_t);
SC_INSTANTIATE_POOL(float)
SC_INSTANTIATE_POOL(double)
#undef SC_INSTANTIATE_POOL

}  // namespace sc::kernels::cpu
