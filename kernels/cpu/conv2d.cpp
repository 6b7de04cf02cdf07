// conv2d on the CPU: im2col + GEMM per image, or per group of images when an image's output is
// small (images_per_gemm below), see kernels/conv2d.h for the algebra.
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
#include <type_traits>
#include <vector>

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

// im2col into a matrix whose rows are `ld` apart (ld >= P): several images' matrices can then
// sit side by side in one [K, G * P] matrix (see images_per_gemm below).
template <typename T>
void im2col_rows(const T* x_img, T* col, int64_t ld, const Conv2dShape& s) {
  const int64_t P = ld;
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
void col2im_rows(const T* col, int64_t ld, T* x_img, const Conv2dShape& s) {
  const int64_t P = ld;
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
void im2col(const T* x_img, T* col, const Conv2dShape& s) {
  im2col_rows(x_img, col, s.P(), s);
}

template <typename T>
void col2im(const T* col, T* x_img, const Conv2dShape& s) {
  col2im_rows(col, s.P(), x_img, s);
}

namespace {

// Images per GEMM. An image with few output pixels (P = 49 at 7 x 7, 16 at 4 x 4) gives a GEMM
// too narrow for the micro-kernel's 16- or 32-column tiles and too small to pay for packing;
// so G images' im2col matrices sit side by side, col [K, G * P], and one GEMM covers them
// (the outputs and gradients go through a [O, G * P] buffer). G depends on the shape alone,
// never on the thread count. A 1x1 convolution reads its images in place, one at a time.
constexpr int64_t kMinGemmColumns = 256;
int64_t images_per_gemm(const Conv2dShape& s) {
  if (is_pointwise(s) || s.P() == 0 || s.P() >= kMinGemmColumns) return 1;
  return std::max<int64_t>(1, std::min<int64_t>(s.N, (kMinGemmColumns + s.P() - 1) / s.P()));
}

// Between a group's [O, G * P] matrix (image i's block at columns i * P) and the images'
// own [O, P] blocks of an NCHW tensor.
template <typename T>
void gather_group(const T* images, int64_t count, int64_t O, int64_t P, T* group) {
  for (int64_t i = 0; i < count; ++i)
    for (int64_t o = 0; o < O; ++o)
      std::copy(images + (i * O + o) * P, images + (i * O + o + 1) * P, group + o * count * P + i * P);
}
template <typename T>
void scatter_group(const T* group, int64_t count, int64_t O, int64_t P, T* images) {
  for (int64_t i = 0; i < count; ++i)
    for (int64_t o = 0; o < O; ++o)
      std::copy(group + o * count * P + i * P, group + o * count * P + (i + 1) * P, images + (i * O + o) * P);
}

}  // namespace

namespace {

// ---- stride-1 convolutions over a zero-padded copy (float32, hand-written GEMM paths) -----
// With stride 1 and dilation 1, the tap (c, kh, kw) reads the input shifted by kh rows and kw
// columns. Copy the image once into a zero-padded buffer xp [C, Hp, Wp] (Hp = H + 2 pad_h,
// Wp = W + 2 pad_w) and compute the output on a grid as wide as a padded row: OH rows of Wp
// values, the first OW of each the output, the other Wp - OW thrown away. Then row (c, kh, kw)
// of the im2col matrix is the OH * Wp floats from xp + (c Hp + kh) Wp + kw: gemm's rows() form
// reads it in place, so nothing is copied KH * KW times. The price: one copy of the input
// and (Wp - OW) / OW more columns (6% at 32 x 32, 14% at 14 x 14). Small images keep im2col,
// whose grouped GEMM (images_per_gemm) fills the tiles better.
//
// The input gradient is the same product the other way round: dx is the stride-1 correlation
// of dy, zero-padded by KH - 1 - pad_h rows and KW - 1 - pad_w columns, with the weights
// turned (o and c swapped, kh and kw reversed). So col2im's scattered additions go too. The
// weight gradient takes dot_rows over the same shifted rows (weight_grad_padded_rows).
constexpr int64_t kMinPaddedRowsPixels = 196;  // 14 x 14 and up

bool use_padded_rows(const Conv2dShape& s) {
  return dot_rows_available() && s.stride_h == 1 && s.stride_w == 1 && s.dilation_h == 1 && s.dilation_w == 1 &&
         s.KH * s.KW > 1 && s.pad_h <= s.KH - 1 && s.pad_w <= s.KW - 1 && s.OH * s.OW >= kMinPaddedRowsPixels &&
         s.H * s.W >= kMinPaddedRowsPixels;
}

// planes [C, H, W] into xp [C, H + 2 ph, W + 2 pw] with zeros around each plane.
void pad_planes(const float* planes, int64_t C, int64_t H, int64_t W, int64_t ph, int64_t pw, float* xp) {
  const int64_t Hp = H + 2 * ph, Wp = W + 2 * pw;
  for (int64_t c = 0; c < C; ++c) {
    float* dst = xp + c * Hp * Wp;
    std::fill(dst, dst + ph * Wp, 0.0f);
    for (int64_t h = 0; h < H; ++h) {
      float* row = dst + (ph + h) * Wp;
      std::fill(row, row + pw, 0.0f);
      std::copy(planes + (c * H + h) * W, planes + (c * H + h + 1) * W, row + pw);
      std::fill(row + pw + W, row + Wp, 0.0f);
    }
    std::fill(dst + (ph + H) * Wp, dst + Hp * Wp, 0.0f);
  }
}

// The first `width` values of each row of a [planes, rows, Wp] grid into [planes, rows, width],
// plus bias[plane] when given.
void unpad_grid(const float* grid, int64_t planes, int64_t rows, int64_t Wp, int64_t width, const float* bias,
                float* out) {
  for (int64_t p = 0; p < planes; ++p) {
    const float add = bias != nullptr ? bias[p] : 0.0f;
    for (int64_t r = 0; r < rows; ++r) {
      const float* src = grid + (p * rows + r) * Wp;
      float* dst = out + (p * rows + r) * width;
      if (bias != nullptr) {
        for (int64_t w = 0; w < width; ++w) dst[w] = src[w] + add;
      } else {
        std::copy(src, src + width, dst);
      }
    }
  }
}

// Where row (p, kh, kw) of the im2col matrix starts in padded planes [planes, Hp, Wp]. The
// last rows run up to KW - 1 floats past the last plane: the buffers carry KW zeros of slack.
std::vector<int64_t> shifted_rows(int64_t planes, int64_t KH, int64_t KW, int64_t Hp, int64_t Wp) {
  std::vector<int64_t> offsets(planes * KH * KW);
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t kh = 0; kh < KH; ++kh)
      for (int64_t kw = 0; kw < KW; ++kw) offsets[(p * KH + kh) * KW + kw] = (p * Hp + kh) * Wp + kw;
  return offsets;
}

// Threads as in the im2col loops below: the images split between threads, or (fewer images
// than threads) one image at a time with the GEMM threaded.
void conv2d_forward_padded_rows(const float* x, const float* weight, const float* bias, float* y,
                                const Conv2dShape& s) {
  const int64_t Hp = s.H + 2 * s.pad_h, Wp = s.W + 2 * s.pad_w, K = s.K();
  const std::vector<int64_t> rows = shifted_rows(s.C, s.KH, s.KW, Hp, Wp);
  const int threads = image_threads(s.N);
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    Buffer<float> xp(s.C * Hp * Wp + s.KW), grid(s.O * s.OH * Wp);
    std::fill(xp.data() + s.C * Hp * Wp, xp.data() + xp.size(), 0.0f);  // the slack
#pragma omp for schedule(static)
    for (int64_t n = 0; n < s.N; ++n) {
      pad_planes(x + n * s.C * s.H * s.W, s.C, s.H, s.W, s.pad_h, s.pad_w, xp.data());
      // grid [O, OH * Wp] = W [O, C KH KW] times the shifted rows
      cpu::rows(s.O, s.OH * Wp, K, 1.0f, weight, K, xp.data(), rows.data(), 0.0f, grid.data(), s.OH * Wp);
      unpad_grid(grid.data(), s.O, s.OH, Wp, s.OW, bias, y + n * s.O * s.P());
    }
  }
}

void conv2d_backward_input_padded_rows(const float* grad_y, const float* weight, float* grad_x,
                                       const Conv2dShape& s) {
  const int64_t qh = s.KH - 1 - s.pad_h, qw = s.KW - 1 - s.pad_w;  // dy's padding
  const int64_t Hq = s.OH + 2 * qh, Wq = s.OW + 2 * qw, K = s.O * s.KH * s.KW;
  // turned[c, o, kh', kw'] = weight[o, c, KH-1-kh', KW-1-kw']
  std::vector<float> turned(s.C * K);
  for (int64_t o = 0; o < s.O; ++o)
    for (int64_t c = 0; c < s.C; ++c)
      for (int64_t kh = 0; kh < s.KH; ++kh)
        for (int64_t kw = 0; kw < s.KW; ++kw)
          turned[((c * s.O + o) * s.KH + (s.KH - 1 - kh)) * s.KW + (s.KW - 1 - kw)] =
              weight[((o * s.C + c) * s.KH + kh) * s.KW + kw];
  const std::vector<int64_t> rows = shifted_rows(s.O, s.KH, s.KW, Hq, Wq);
  const int threads = image_threads(s.N);
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    Buffer<float> dyp(s.O * Hq * Wq + s.KW), grid(s.C * s.H * Wq);
    std::fill(dyp.data() + s.O * Hq * Wq, dyp.data() + dyp.size(), 0.0f);  // the slack
#pragma omp for schedule(static)
    for (int64_t n = 0; n < s.N; ++n) {
      pad_planes(grad_y + n * s.O * s.P(), s.O, s.OH, s.OW, qh, qw, dyp.data());
      // grid [C, H * Wq] = turned [C, O KH KW] times dy's shifted rows
      cpu::rows(s.C, s.H * Wq, K, 1.0f, turned.data(), K, dyp.data(), rows.data(), 0.0f, grid.data(), s.H * Wq);
      unpad_grid(grid.data(), s.C, s.H, Wq, s.W, nullptr, grad_x + n * s.C * s.H * s.W);
    }
  }
}

// The weight gradient of images [first, last) over padded rows, summed into dw (the first
// image writes it): dW[o][(c, kh, kw)] is the dot product of dy's row o, widened to the Wp grid
// with zeros in the thrown-away columns, and the shifted row (c, kh, kw) of the padded image.
// The zeros make the extra columns add nothing. xp (with its slack zeroed) and dy_wide are the
// caller's buffers.
void weight_grad_padded_rows(const float* grad_y, const float* x, float* dw, int64_t first, int64_t last,
                             const std::vector<int64_t>& rows, float* xp, float* dy_wide, const Conv2dShape& s) {
  const int64_t Wp = s.W + 2 * s.pad_w, grid = s.OH * Wp;
  for (int64_t n = first; n < last; ++n) {
    pad_planes(x + n * s.C * s.H * s.W, s.C, s.H, s.W, s.pad_h, s.pad_w, xp);
    const float* dy = grad_y + n * s.O * s.P();
    for (int64_t r = 0; r < s.O * s.OH; ++r) {  // row r = (o, oh)
      std::copy(dy + r * s.OW, dy + (r + 1) * s.OW, dy_wide + r * Wp);
      std::fill(dy_wide + r * Wp + s.OW, dy_wide + (r + 1) * Wp, 0.0f);
    }
    dot_rows(s.O, s.K(), grid, 1.0f, dy_wide, grid, xp, rows.data(), n == first ? 0.0f : 1.0f, dw, s.K());
  }
}

}  // namespace

template <typename T>
void conv2d_forward(const T* x, const T* weight, const T* bias, T* y, const Conv2dShape& s) {
  if constexpr (std::is_same_v<T, float>)
    if (use_padded_rows(s)) return conv2d_forward_padded_rows(x, weight, bias, y, s);
  const int64_t K = s.K(), P = s.P();
  const bool pointwise = is_pointwise(s);
  const int64_t G = images_per_gemm(s), groups = (s.N + G - 1) / G;
  const int threads = image_threads(groups);
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    Buffer<T> col(pointwise ? 0 : K * G * P);  // one per thread, reused for each of its groups
    Buffer<T> y_group(G > 1 ? s.O * G * P : 0);
#pragma omp for schedule(static)
    for (int64_t group = 0; group < groups; ++group) {
      const int64_t first = group * G, count = std::min(G, s.N - first), ld = count * P;
      const T* x_first = x + first * s.C * s.H * s.W;
      T* y_first = y + first * s.O * P;
      if (!pointwise)
        for (int64_t i = 0; i < count; ++i) im2col_rows(x_first + i * s.C * s.H * s.W, col.data() + i * P, ld, s);
      // y = W col, for `count` images at once
      T* out = G > 1 ? y_group.data() : y_first;
      gemm<T>(false, false, s.O, ld, K, T(1), weight, K, pointwise ? x_first : col.data(), ld, T(0), out, ld);
      if (G > 1) scatter_group(y_group.data(), count, s.O, P, y_first);
      if (bias != nullptr)
        for (int64_t i = 0; i < count; ++i)
          for (int64_t o = 0; o < s.O; ++o)
            for (int64_t p = 0; p < P; ++p) y_first[(i * s.O + o) * P + p] += bias[o];
    }
  }
}

template <typename T>
void conv2d_backward_input(const T* grad_y, const T* weight, T* grad_x, const Conv2dShape& s) {
  if constexpr (std::is_same_v<T, float>)
    if (use_padded_rows(s)) return conv2d_backward_input_padded_rows(grad_y, weight, grad_x, s);
  const int64_t K = s.K(), P = s.P();
  const bool pointwise = is_pointwise(s);
  const int64_t G = images_per_gemm(s), groups = (s.N + G - 1) / G;
  const int threads = image_threads(groups);
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    Buffer<T> dcol(pointwise ? 0 : K * G * P);
    Buffer<T> dy_group(G > 1 ? s.O * G * P : 0);
#pragma omp for schedule(static)
    for (int64_t group = 0; group < groups; ++group) {
      const int64_t first = group * G, count = std::min(G, s.N - first), ld = count * P;
      T* dx_first = grad_x + first * s.C * s.H * s.W;
      const T* dy_first = grad_y + first * s.O * P;
      if (G > 1) gather_group(dy_first, count, s.O, P, dy_group.data());
      // dcol = W^T dy: the gradient of every patch entry; col2im adds the entries
      // that came from the same input pixel.
      gemm<T>(true, false, K, ld, s.O, T(1), weight, K, G > 1 ? dy_group.data() : dy_first, ld, T(0),
              pointwise ? dx_first : dcol.data(), ld);
      if (!pointwise)
        for (int64_t i = 0; i < count; ++i) col2im_rows(dcol.data() + i * P, ld, dx_first + i * s.C * s.H * s.W, s);
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
  const int64_t G = images_per_gemm(s);
  // dW = dy col^T reduces along both operands' contiguous axis. gemm() first copies col into
  // column strips, one value at a time, a copy that pays for itself over O / 8 row strips of
  // dW; with few output channels it costs as much as the multiply-adds. There, float32 on the
  // hand-written paths takes dot_rows (kernels/gemm.h), which reads col where im2col wrote it.
  // Measured at one thread (GFLOP/s, gemm / dot_rows): O = 16, 1024 columns 37 / 98; O = 32,
  // 256 columns 84 / 106; O = 64: 784 columns 92 / 104, 256 columns 123 / 114; O = 128: 131 / 95.
  // Other types and the Eigen path take gemm().
  bool use_dot_rows = false;
  if constexpr (std::is_same_v<T, float>)
    use_dot_rows = dot_rows_available() && (s.O <= 32 || (s.O <= 64 && G * P >= 512));
  // Stride 1 over a large image: no im2col either, the padded image's shifted rows are read in
  // place (use_padded_rows above). The chunks are the same, and each sums its images in order.
  const bool padded = use_dot_rows && use_padded_rows(s);
  const int64_t Hp = s.H + 2 * s.pad_h, Wp = s.W + 2 * s.pad_w;
  const std::vector<int64_t> padded_rows = padded ? shifted_rows(s.C, s.KH, s.KW, Hp, Wp) : std::vector<int64_t>();
#pragma omp parallel num_threads(threads) if (split_chunks && threads > 1)
  {
    Buffer<T> col(pointwise || padded ? 0 : K * G * P);
    Buffer<T> dy_group(G > 1 && !padded ? s.O * G * P : 0);
    std::vector<int64_t> col_rows(use_dot_rows && !padded ? K : 0);  // where each row of col starts
    Buffer<T> xp(padded ? s.C * Hp * Wp + s.KW : 0), dy_wide(padded ? s.O * s.OH * Wp : 0);
    std::fill(xp.data(), xp.data() + xp.size(), T(0));  // the slack after the last plane stays zero
#pragma omp for schedule(static)
    for (int64_t chunk = 0; chunk < chunks; ++chunk) {
      T* dw = chunk == 0 ? grad_weight : partial.data() + (chunk - 1) * OK;
      const int64_t first = s.N * chunk / chunks, last = s.N * (chunk + 1) / chunks;
      if (first == last) std::fill(dw, dw + OK, T(0));
      if constexpr (std::is_same_v<T, float>) {
        if (padded) {
          weight_grad_padded_rows(grad_y, x, dw, first, last, padded_rows, xp.data(), dy_wide.data(), s);
          continue;
        }
      }
      // Groups of G images from the chunk's start (the last one may be shorter).
      for (int64_t n = first; n < last; n += G) {
        const int64_t count = std::min(G, last - n), ld = count * P;
        const T* x_first = x + n * s.C * s.H * s.W;
        if (!pointwise)
          for (int64_t i = 0; i < count; ++i) im2col_rows(x_first + i * s.C * s.H * s.W, col.data() + i * P, ld, s);
        if (G > 1) gather_group(grad_y + n * s.O * P, count, s.O, P, dy_group.data());
        // dW += dy col^T over the group's images (the chunk's first group writes dW: beta = 0)
        const T beta = n == first ? T(0) : T(1);
        const T* dy = G > 1 ? dy_group.data() : grad_y + n * s.O * P;
        const T* cols = pointwise ? x_first : col.data();  // the im2col matrix, [K, ld]
        if (use_dot_rows) {
          // Each dW[o][k] is the dot product of dy's row o and col's row k, both contiguous.
          for (int64_t k = 0; k < K; ++k) col_rows[k] = k * ld;
          if constexpr (std::is_same_v<T, float>) dot_rows(s.O, K, ld, T(1), dy, ld, cols, col_rows.data(), beta, dw, K);
        } else {
          gemm<T>(false, true, s.O, K, ld, T(1), dy, ld, cols, ld, beta, dw, K);
        }
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
