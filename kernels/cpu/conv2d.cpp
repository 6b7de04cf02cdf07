// conv2d on the CPU: im2col + GEMM per image, or per group of images when an image's output is
// small (images_per_gemm below), see kernels/conv2d.h for the algebra. Stride-1 convolutions in
// float32 on the hand-written GEMM paths skip im2col: they run on a grid of shifted rows
// (ShiftedGrid below), the im2col path staying as the reference and for the other cases.
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

// ---- stride-1 convolutions on a grid of shifted rows (float32, hand-written GEMM paths) ----
// With stride 1 and dilation 1, the tap (c, kh, kw) reads the input shifted by kh rows and kw
// columns. So copy the images once into a zero-padded grid and compute the output at every
// position of that grid: row (c, kh, kw) of the im2col matrix is then the grid itself, read
// from a shifted start, and gemm's rows() form reads it in place. Nothing is copied KH * KW
// times, and the input gradient (below) needs no col2im either.
//
// The grid holds G images of one channel after one another, each image's rows Ws floats apart
// with a gap of zeros after each row and after each image. One gap serves both neighbours: the
// zeros right of a row are also the zeros left of the next row (the flat index wraps), and the
// zero rows under an image are also the zero rows above the next. So a gap of
// max(pad, kernel - 1 - pad) is enough: one column and one row for a 3 x 3 kernel with padding
// 1. Positions in the gaps compute values nobody reads: (Hs Ws) / (H W) - 1 more columns,
// 6% at 32 x 32, 27% at 8 x 8. The grid's row stride and group size depend on the shape alone.
//
// The input gradient is the same product the other way round: dx is the stride-1 correlation
// of dy padded by KH - 1 - pad_h and KW - 1 - pad_w, with the weights turned (o and c swapped,
// kh and kw reversed). The weight gradient takes dot_rows over the same shifted rows, with dy
// placed on the grid and zeros in the gaps, so the gap positions add nothing.
struct ShiftedGrid {
  int64_t G = 1;           // images side by side
  int64_t H = 0, W = 0;    // each image's planes
  int64_t Hs = 0, Ws = 0;  // rows and row stride of an image on the grid: H, W plus the gap
  int64_t top = 0;         // zeros before the first image: pad rows and pad columns
  int64_t plane = 0;       // floats per channel: all G images, the gaps, room for the last reads
  int64_t columns(int64_t count) const { return count * Hs * Ws; }  // grid positions of `count` images
  // The row stride of a [planes, columns] matrix on the grid: rows start on 64-byte lines, so the
  // dot products' loads of dy's rows never straddle two lines (1089 columns at 32 x 32 did).
  int64_t ld() const { return (columns(G) + 15) / 16 * 16; }
  // Where image g's pixel (h, w) of channel c sits.
  int64_t at(int64_t c, int64_t g, int64_t h, int64_t w) const { return c * plane + top + (g * Hs + h) * Ws + w; }
};

constexpr int64_t kGridColumns = 512;  // images per grid: enough for at least this many columns

ShiftedGrid shifted_grid(int64_t H, int64_t W, int64_t KH, int64_t KW, int64_t ph, int64_t pw, int64_t N) {
  ShiftedGrid g;
  g.H = H, g.W = W;
  g.Hs = H + std::max(ph, KH - 1 - ph), g.Ws = W + std::max(pw, KW - 1 - pw);
  g.G = std::clamp<int64_t>((kGridColumns + g.Hs * g.Ws - 1) / (g.Hs * g.Ws), 1, std::max<int64_t>(N, 1));
  g.top = ph * g.Ws + pw;
  g.plane = (g.top + (g.G * g.Hs + KH) * g.Ws + KW + 15) / 16 * 16;  // each channel on a 64-byte line
  return g;
}

// Stride 1, dilation 1, padding at most kernel - 1 (so dy's padding for the input gradient is
// not negative either), and gaps of at most 60% more columns: 4 x 4 images with a 3 x 3 kernel
// (56% more) still gain, at one thread forward 17.2 -> 13.3 ms, input gradient 12.4 -> 13.5,
// weight gradient 20.4 -> 18.5 (ResNet-18's last stage); 2 x 2 (125% more) would not.
bool use_shifted_grid(const Conv2dShape& s) {
  if (!dot_rows_available() || s.stride_h != 1 || s.stride_w != 1 || s.dilation_h != 1 || s.dilation_w != 1 ||
      s.KH * s.KW == 1 || s.pad_h > s.KH - 1 || s.pad_w > s.KW - 1 || s.P() == 0 || s.H * s.W == 0)
    return false;
  const ShiftedGrid g = shifted_grid(s.H, s.W, s.KH, s.KW, s.pad_h, s.pad_w, s.N);
  return g.Hs * g.Ws * 5 <= s.OH * s.OW * 8;  // at most 60% more columns
}

// Where row (c, kh, kw) of the im2col matrix starts on the grid.
std::vector<int64_t> grid_rows(const ShiftedGrid& g, int64_t channels, int64_t KH, int64_t KW, int64_t ph,
                               int64_t pw) {
  std::vector<int64_t> offsets(channels * KH * KW);
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t kh = 0; kh < KH; ++kh)
      for (int64_t kw = 0; kw < KW; ++kw) offsets[(c * KH + kh) * KW + kw] = g.at(c, 0, kh - ph, kw - pw);
  return offsets;
}

// `count` images [channels, H, W] onto a grid buffer whose gaps are zero (the buffer was
// zeroed when made, and only image pixels are ever written). Image slots past `count` (a
// short last group) are zeroed too: gap positions read into them, and what they hold should
// not depend on which images the thread had before.
void fill_grid(const ShiftedGrid& g, const float* images, int64_t count, int64_t channels, float* grid) {
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t i = 0; i < g.G; ++i) {
      for (int64_t h = 0; h < g.H; ++h) {
        float* row = grid + g.at(c, i, h, 0);
        if (i < count) {
          const float* src = images + ((i * channels + c) * g.H + h) * g.W;
          std::copy(src, src + g.W, row);
        } else {
          std::fill(row, row + g.W, 0.0f);
        }
      }
    }
  }
}

// From a [planes, columns] product on the grid, the rows x width corner of each image's plane
// into [count, planes, rows, width] images, plus bias[plane] when given.
void take_from_grid(const ShiftedGrid& g, const float* product, int64_t ld, int64_t count, int64_t planes,
                    int64_t rows, int64_t width, const float* bias, float* images) {
  for (int64_t i = 0; i < count; ++i) {
    for (int64_t p = 0; p < planes; ++p) {
      const float add = bias != nullptr ? bias[p] : 0.0f;
      for (int64_t r = 0; r < rows; ++r) {
        const float* src = product + p * ld + (i * g.Hs + r) * g.Ws;
        float* dst = images + ((i * planes + p) * rows + r) * width;
        if (bias != nullptr) {
          for (int64_t w = 0; w < width; ++w) dst[w] = src[w] + add;
        } else {
          std::copy(src, src + width, dst);
        }
      }
    }
  }
}

// out [M planes, rows_out x cols_out] per image = the stride-1 correlation of `in` [P planes,
// H x W per image, the grid's] with `weights` [M, P * KH * KW], for all N images: the forward
// (in = x, weights = W) and the input gradient (in = dy, weights turned). Threads as in the
// im2col loops below: the groups split between threads, or (fewer groups than threads) one
// group at a time with the GEMM threaded.
void correlate_on_grid(const ShiftedGrid& g, const float* in, int64_t N, int64_t P, const float* weights, int64_t M,
                       int64_t KH, int64_t KW, int64_t ph, int64_t pw, int64_t rows_out, int64_t cols_out,
                       const float* bias, float* out) {
  const int64_t K = P * KH * KW, ld = g.ld(), groups = (N + g.G - 1) / g.G;
  const std::vector<int64_t> rows = grid_rows(g, P, KH, KW, ph, pw);
  const int threads = image_threads(groups);
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    Buffer<float> grid = Buffer<float>::Zero(P * g.plane), product(M * ld);
#pragma omp for schedule(static)
    for (int64_t group = 0; group < groups; ++group) {
      const int64_t first = group * g.G, count = std::min(g.G, N - first);
      fill_grid(g, in + first * P * g.H * g.W, count, P, grid.data());
      // product [M, grid positions] = weights [M, P KH KW] times the shifted rows
      cpu::rows(M, g.columns(count), K, 1.0f, weights, K, grid.data(), rows.data(), 0.0f, product.data(), ld);
      take_from_grid(g, product.data(), ld, count, M, rows_out, cols_out, bias, out + first * M * rows_out * cols_out);
    }
  }
}

void conv2d_forward_on_grid(const float* x, const float* weight, const float* bias, float* y, const Conv2dShape& s) {
  const ShiftedGrid g = shifted_grid(s.H, s.W, s.KH, s.KW, s.pad_h, s.pad_w, s.N);
  correlate_on_grid(g, x, s.N, s.C, weight, s.O, s.KH, s.KW, s.pad_h, s.pad_w, s.OH, s.OW, bias, y);
}

void conv2d_backward_input_on_grid(const float* grad_y, const float* weight, float* grad_x, const Conv2dShape& s) {
  const int64_t qh = s.KH - 1 - s.pad_h, qw = s.KW - 1 - s.pad_w;  // dy's padding
  // turned[c, o, kh', kw'] = weight[o, c, KH-1-kh', KW-1-kw']
  const int64_t K = s.O * s.KH * s.KW;
  std::vector<float> turned(s.C * K);
  for (int64_t o = 0; o < s.O; ++o)
    for (int64_t c = 0; c < s.C; ++c)
      for (int64_t kh = 0; kh < s.KH; ++kh)
        for (int64_t kw = 0; kw < s.KW; ++kw)
          turned[((c * s.O + o) * s.KH + (s.KH - 1 - kh)) * s.KW + (s.KW - 1 - kw)] =
              weight[((o * s.C + c) * s.KH + kh) * s.KW + kw];
  const ShiftedGrid g = shifted_grid(s.OH, s.OW, s.KH, s.KW, qh, qw, s.N);
  correlate_on_grid(g, grad_y, s.N, s.O, turned.data(), s.C, s.KH, s.KW, qh, qw, s.H, s.W, nullptr, grad_x);
}

// The weight gradient of images [first, last) on the grid, summed into dw (the first group
// writes it): dW[o][(c, kh, kw)] is the dot product of dy's plane o, placed on the grid with
// zeros in the gaps, and the shifted row (c, kh, kw) of x's grid. x_grid and dy_grid are the
// caller's zeroed buffers (only pixels are written, so their gaps stay zero).
void weight_grad_on_grid(const ShiftedGrid& g, const std::vector<int64_t>& rows, const float* grad_y, const float* x,
                         float* dw, int64_t first, int64_t last, float* x_grid, float* dy_grid, const Conv2dShape& s) {
  const int64_t ld = g.ld();
  for (int64_t n = first; n < last; n += g.G) {
    const int64_t count = std::min(g.G, last - n);
    fill_grid(g, x + n * s.C * s.H * s.W, count, s.C, x_grid);
    for (int64_t i = 0; i < count; ++i)
      for (int64_t o = 0; o < s.O; ++o)
        for (int64_t r = 0; r < s.OH; ++r) {
          const float* src = grad_y + ((n + i) * s.O + o) * s.P() + r * s.OW;
          std::copy(src, src + s.OW, dy_grid + o * ld + (i * g.Hs + r) * g.Ws);
        }
    dot_rows(s.O, s.K(), g.columns(count), 1.0f, dy_grid, ld, x_grid, rows.data(), n == first ? 0.0f : 1.0f, dw,
             s.K());
  }
}

}  // namespace

template <typename T>
void conv2d_forward(const T* x, const T* weight, const T* bias, T* y, const Conv2dShape& s) {
  if constexpr (std::is_same_v<T, float>)
    if (use_shifted_grid(s)) return conv2d_forward_on_grid(x, weight, bias, y, s);
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
    if (use_shifted_grid(s)) return conv2d_backward_input_on_grid(grad_y, weight, grad_x, s);
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
  // With stride 1 the rows are the grid's shifted rows (use_shifted_grid above): no im2col at
  // all, and dot_rows wins at every O (ConvNet w=32 at 7 x 7, O = 256: 156 -> 132 ms per call).
  // Other types and the Eigen path take gemm(). The chunks are the same on every path, and
  // each sums its images in order.
  bool use_dot_rows = false, on_grid = false;
  if constexpr (std::is_same_v<T, float>) {
    on_grid = use_shifted_grid(s);
    use_dot_rows = dot_rows_available() && (on_grid || s.O <= 32 || (s.O <= 64 && G * P >= 512));
  }
  const ShiftedGrid grid = shifted_grid(s.H, s.W, s.KH, s.KW, s.pad_h, s.pad_w, s.N);
  const std::vector<int64_t> rows_on_grid =
      on_grid ? grid_rows(grid, s.C, s.KH, s.KW, s.pad_h, s.pad_w) : std::vector<int64_t>();
#pragma omp parallel num_threads(threads) if (split_chunks && threads > 1)
  {
    Buffer<T> col(pointwise || on_grid ? 0 : K * G * P);
    Buffer<T> dy_group(G > 1 && !on_grid ? s.O * G * P : 0);
    std::vector<int64_t> col_rows(use_dot_rows && !on_grid ? K : 0);  // where each row of col starts
    Buffer<T> x_grid = Buffer<T>::Zero(on_grid ? s.C * grid.plane : 0);  // zeroed: the gaps stay zero
    Buffer<T> dy_grid = Buffer<T>::Zero(on_grid ? s.O * grid.ld() : 0);
#pragma omp for schedule(static)
    for (int64_t chunk = 0; chunk < chunks; ++chunk) {
      T* dw = chunk == 0 ? grad_weight : partial.data() + (chunk - 1) * OK;
      const int64_t first = s.N * chunk / chunks, last = s.N * (chunk + 1) / chunks;
      if (first == last) std::fill(dw, dw + OK, T(0));
      if constexpr (std::is_same_v<T, float>) {
        if (on_grid) {
          weight_grad_on_grid(grid, rows_on_grid, grad_y, x, dw, first, last, x_grid.data(), dy_grid.data(), s);
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
          if constexpr (std::is_same_v<T, float>)
            dot_rows(s.O, K, ld, T(1), dy, ld, cols, col_rows.data(), beta, dw, K);
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
