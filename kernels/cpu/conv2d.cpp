// conv2d on the CPU: im2col + GEMM per image (see kernels/conv2d.h for the algebra).
//
// Threads: with at least as many images as threads, the images are split among the
// threads (OpenMP), each thread reuses one im2col buffer for all of its images, and the
// GEMM inside runs single-threaded. With fewer images than threads (inference on one
// image), the images run one after the other and each GEMM is split between the threads.
//
// The GEMM is the shared one (kernels/gemm.h): the hand-written AVX2 + FMA GEMM for
// float32 on CPUs that have it, Eigen otherwise. It stays on one thread when called from
// inside the parallel image loop and uses every thread when called outside one.
#include "kernels/conv2d.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>

#include "kernels/gemm.h"
#include "kernels/strided.h"  // kParallelGrain

namespace sc::kernels::cpu {

namespace {

// A scratch buffer: Eigen's vector allocates aligned memory and does not zero it.
template <typename T>
using Buffer = Eigen::Matrix<T, Eigen::Dynamic, 1>;

// ---- im2col / col2im ------------------------------------------------------------------
// The output indices o in [lo, hi) of [0, count) whose input index first + o*step lies
// in [0, limit): outside that range a patch reads zero padding.
struct ValidRange {
  int64_t lo, hi;
};
ValidRange valid_range(int64_t first, int64_t step, int64_t limit, int64_t count) {
  const int64_t lo = first >= 0 ? 0 : (-first + step - 1) / step;
  const int64_t hi = first > limit - 1 ? 0 : (limit - 1 - first) / step + 1;
  return {std::min(lo, count), std::clamp(hi, std::min(lo, count), count)};
}

// A 1x1 kernel with stride 1 and no padding reads every pixel once, in order:
// the im2col matrix of an image is the image itself, so no copy is needed.
bool is_pointwise(const Conv2dShape& s) {
  return s.KH == 1 && s.KW == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0;
}

// Threads for a loop over n images: all of them, or 1 when there are too few images
// to keep every thread busy (then each GEMM is threaded instead).
int image_threads(int64_t n) {
  const int t = omp_get_max_threads();
  return n >= t ? t : 1;
}

}  // namespace

template <typename T>
void im2col(const T* x_img, T* col, const Conv2dShape& s) {
  const int64_t P = s.P();
  for (int64_t c = 0; c < s.C; ++c) {
    for (int64_t kh = 0; kh < s.KH; ++kh) {
      for (int64_t kw = 0; kw < s.KW; ++kw) {
        T* row = col + ((c * s.KH + kh) * s.KW + kw) * P;
        const int64_t w_first = kw * s.dilation_w - s.pad_w;  // input column seen by output column 0
        const ValidRange ow = valid_range(w_first, s.stride_w, s.W, s.OW);
        for (int64_t oh = 0; oh < s.OH; ++oh) {
          T* dst = row + oh * s.OW;
          const int64_t ih = oh * s.stride_h - s.pad_h + kh * s.dilation_h;
          if (ih < 0 || ih >= s.H) {
            std::fill(dst, dst + s.OW, T(0));
            continue;
          }
          const T* in_row = x_img + (c * s.H + ih) * s.W;
          std::fill(dst, dst + ow.lo, T(0));
          if (s.stride_w == 1) {  // a contiguous run: a plain (vectorised) copy
            std::copy(in_row + w_first + ow.lo, in_row + w_first + ow.hi, dst + ow.lo);
          } else {
            for (int64_t o = ow.lo; o < ow.hi; ++o) dst[o] = in_row[w_first + o * s.stride_w];
          }
          std::fill(dst + ow.hi, dst + s.OW, T(0));
        }
      }
    }
  }
}

template <typename T>
void col2im(const T* col, T* x_img, const Conv2dShape& s) {
  const int64_t P = s.P();
  std::fill(x_img, x_img + s.C * s.H * s.W, T(0));
  for (int64_t c = 0; c < s.C; ++c) {
    for (int64_t kh = 0; kh < s.KH; ++kh) {
      for (int64_t kw = 0; kw < s.KW; ++kw) {
        const T* row = col + ((c * s.KH + kh) * s.KW + kw) * P;
        const int64_t w_first = kw * s.dilation_w - s.pad_w;
        const ValidRange ow = valid_range(w_first, s.stride_w, s.W, s.OW);
        for (int64_t oh = 0; oh < s.OH; ++oh) {
          const int64_t ih = oh * s.stride_h - s.pad_h + kh * s.dilation_h;
          if (ih < 0 || ih >= s.H) continue;  // that tap read padding: nothing to give back
          const T* src = row + oh * s.OW;
          T* in_row = x_img + (c * s.H + ih) * s.W;
          for (int64_t o = ow.lo; o < ow.hi; ++o) in_row[w_first + o * s.stride_w] += src[o];
        }
      }
    }
  }
}

template <typename T>
void conv2d_forward(const T* x, const T* weight, const T* bias, T* y, const Conv2dShape& s) {
  const int64_t K = s.K(), P = s.P();
  const bool pointwise = is_pointwise(s);
  const int threads = image_threads(s.N);
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    Buffer<T> col(pointwise ? 0 : K * P);  // one per thread, reused for each of its images
#pragma omp for schedule(static)
    for (int64_t n = 0; n < s.N; ++n) {
      const T* x_img = x + n * s.C * s.H * s.W;
      T* y_img = y + n * s.O * P;
      if (!pointwise) im2col(x_img, col.data(), s);
      // y_n = W col
      gemm<T>(false, false, s.O, P, K, T(1), weight, K, pointwise ? x_img : col.data(), P, T(0), y_img, P);
      if (bias != nullptr)
        for (int64_t o = 0; o < s.O; ++o)
          for (int64_t p = 0; p < P; ++p) y_img[o * P + p] += bias[o];
    }
  }
}

template <typename T>
void conv2d_backward_input(const T* grad_y, const T* weight, T* grad_x, const Conv2dShape& s) {
  const int64_t K = s.K(), P = s.P();
  const bool pointwise = is_pointwise(s);
  const int threads = image_threads(s.N);
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    Buffer<T> dcol(pointwise ? 0 : K * P);
#pragma omp for schedule(static)
    for (int64_t n = 0; n < s.N; ++n) {
      T* dx_img = grad_x + n * s.C * s.H * s.W;
      // dcol = W^T dy: the gradient of every patch entry; col2im adds the entries
      // that came from the same input pixel.
      gemm<T>(true, false, K, P, s.O, T(1), weight, K, grad_y + n * s.O * P, P, T(0), pointwise ? dx_img : dcol.data(),
              P);
      if (!pointwise) col2im(dcol.data(), dx_img, s);
    }
  }
}

// The images are cut into a number of chunks that depends only on N (never on the thread
// count), each chunk's dW is summed image after image, then the chunk sums are added in chunk
// order: the same bits on 1 thread or 16. 16 chunks keep 16 threads busy; the extra
// additions (16 * O * K) are small next to the GEMMs (N * O * K * P multiply-adds).
constexpr int64_t kWeightGradChunks = 16;

template <typename T>
void conv2d_backward_weight(const T* grad_y, const T* x, T* grad_weight, const Conv2dShape& s) {
  const int64_t K = s.K(), P = s.P(), OK = s.O * K;
  const bool pointwise = is_pointwise(s);
  const int64_t chunks = std::max<int64_t>(1, std::min(s.N, kWeightGradChunks));
  // Chunk 0 sums straight into grad_weight, chunk c > 0 into partial[c-1].
  Buffer<T> partial((chunks - 1) * OK);
  // Enough chunks for every thread: one chunk per task, each GEMM on its thread. Fewer
  // chunks than threads: the chunks one after another, each GEMM split between the
  // threads. The GEMM gives the same bits either way (kernels/gemm.h), so both orders of
  // work give the same result.
  const int threads = omp_get_max_threads();
  const bool split_chunks = chunks >= threads;
#pragma omp parallel num_threads(threads) if (split_chunks && threads > 1)
  {
    Buffer<T> col(pointwise ? 0 : K * P);
#pragma omp for schedule(static)
    for (int64_t chunk = 0; chunk < chunks; ++chunk) {
      T* dw = chunk == 0 ? grad_weight : partial.data() + (chunk - 1) * OK;
      const int64_t first = s.N * chunk / chunks, last = s.N * (chunk + 1) / chunks;
      if (first == last) std::fill(dw, dw + OK, T(0));
      for (int64_t n = first; n < last; ++n) {
        const T* x_img = x + n * s.C * s.H * s.W;
        if (!pointwise) im2col(x_img, col.data(), s);
        // dW += dy_n col^T (the chunk's first image writes dW: beta = 0)
        const T beta = n == first ? T(0) : T(1);
        gemm<T>(false, true, s.O, K, P, T(1), grad_y + n * s.O * P, P, pointwise ? x_img : col.data(), P, beta, dw, K);
      }
    }
  }
  // Add the chunk sums in chunk order; threads split the elements, not the chunks. Blocks of
  // elements keep each pass over a chunk contiguous (vectorised) and in cache.
  constexpr int64_t kBlock = 4096;
  const int64_t blocks = (OK + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (OK * (chunks - 1) >= kParallelGrain && blocks > 1)
  for (int64_t block = 0; block < blocks; ++block) {
    const int64_t begin = block * kBlock, end = std::min(OK, begin + kBlock);
    for (int64_t chunk = 1; chunk < chunks; ++chunk) {
      const T* part = partial.data() + (chunk - 1) * OK;
      for (int64_t i = begin; i < end; ++i) grad_weight[i] += part[i];
    }
  }
}

template <typename T>
void conv2d_backward_bias(const T* grad_y, T* grad_bias, const Conv2dShape& s) {
  const int64_t P = s.P();
#pragma omp parallel for schedule(static) if (s.N * s.O * P >= 32768)
  for (int64_t o = 0; o < s.O; ++o) {
    // Each image's row is summed in T with Eigen's vectorised sum, the rows in double:
    // a float32 running sum over N*P ~ 1e5 terms would lose digits.
    double acc = 0;
    for (int64_t n = 0; n < s.N; ++n) acc += Eigen::Map<const Buffer<T>>(grad_y + (n * s.O + o) * P, P).sum();
    grad_bias[o] = static_cast<T>(acc);
  }
}

#define SC_INSTANTIATE_CONV2D(T)                                                            \
  template void conv2d_forward<T>(const T*, const T*, const T*, T*, const Conv2dShape&);    \
  template void conv2d_backward_input<T>(const T*, const T*, T*, const Conv2dShape&);       \
  template void conv2d_backward_weight<T>(const T*, const T*, T*, const Conv2dShape&);      \
  template void conv2d_backward_bias<T>(const T*, T*, const Conv2dShape&);                  \
  template void im2col<T>(const T*, T*, const Conv2dShape&);                                \
  template void col2im<T>(const T*, T*, const Conv2dShape&);
SC_INSTANTIATE_CONV2D(float)
SC_INSTANTIATE_CONV2D(double)
#undef SC_INSTANTIATE_CONV2D

}  // namespace sc::kernels::cpu
