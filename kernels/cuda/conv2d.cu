// conv2d on the GPU, hand-written: three implicit GEMMs and a per-channel reduction.
//
// The CPU version (kernels/cpu/conv2d.cpp) writes the im2col matrix col [K, P] of each image
// to memory and multiplies. Here that matrix is never stored: one tiled GEMM kernel asks a
// "gather" object for each tile of its two operands, and the gather reads them straight from
// x, dy or the weight, with the padding, stride and dilation arithmetic folded into the read.
//
//   GEMM            rows          columns            reduction           operands
//   forward         o    (O)      (n, oh, ow) (N*P)  (c, kh, kw) (K)     W [o, k],   x gathered
//   grad input      c    (C)      (n, ih, iw) (N*HW) (o, kh, kw) (O*KK)  W [o,c,..], dy gathered
//   grad weight     o    (O)      (c, kh, kw) (K)    (n, oh, ow) (N*P)   dy [n,o,p], x gathered
//
// grad input: pixel (ih, iw) was read by tap (kh, kw) of output pixel (oh, ow) exactly when
// ih + pad_h - kh*dil_h = oh*stride_h (and the same for w), so the gather for a column
// (n, ih, iw) and a reduction index (o, kh, kw) reads dy[n, o, oh, ow] when that division
// is exact and in range, and zero otherwise. No scatter, so no atomics.
//
// grad weight reduces over all N*P output pixels (401k at batch 512, 28x28), far too long for
// one block. The reduction is split into a fixed number of chunks (a function of the shape
// only); each block writes its chunk's partial dW to a workspace and a second kernel adds the
// chunks in chunk order. No atomics: the same bits on every run.
//
// The GEMM kernel (implicit_gemm) is the classic shared-memory SGEMM: a block computes a
// BM x BN tile of the output, walks the reduction in steps of BK, and stages the next step's
// operands in registers while it multiplies the current one from shared memory (double
// buffering, one __syncthreads per step). Each thread owns TM x TN outputs, read from shared
// memory as groups of 4 (float4) that are BM/(TM/4) apart, so a warp's reads hit distinct banks.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <type_traits>

#include "kernels/conv2d.h"
#include "kernels/cuda/common.cuh"
#include "kernels/winograd.h"

namespace sc::kernels::cuda {

namespace {

// ---- tap tables ------------------------------------------------------------------------
// The reduction index of the forward (and grad-weight) GEMM is a weight tap k = (c, kh, kw).
// Decomposing k needs two divisions; rather than doing that in the inner loop, a tiny kernel
// writes one table entry per tap first, and the gathers look them up (an L1-cached read that
// all threads of a warp usually share).
struct alignas(16) InputTap {
  int64_t channel_offset;  // c * H * W: the start of channel c within one image of x
  int32_t dh;              // kh * dilation_h: row offset from the receptive field's top-left
  int32_t dw;              // kw * dilation_w
};

// The reduction index of the grad-input GEMM is r = (o, kh, kw).
struct alignas(16) OutputTap {
  int64_t weight_offset;  // o*C*KH*KW + kh*KW + kw: weight[o, c, kh, kw] is at this + c*KH*KW
  int64_t grad_y_offset;  // o * OH * OW: the start of channel o within one image of dy
  int32_t dh;             // kh * dilation_h
  int32_t dw;             // kw * dilation_w
};

__global__ void build_input_taps(InputTap* taps, Conv2dShape s) {
  const int64_t K = s.C * s.KH * s.KW, taps_per_channel = s.KH * s.KW;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < K; k += step) {
    const int64_t c = k / taps_per_channel, in_channel = k % taps_per_channel;
    const int64_t kh = in_channel / s.KW, kw = in_channel % s.KW;
    taps[k] = InputTap{c * s.H * s.W, static_cast<int32_t>(kh * s.dilation_h), static_cast<int32_t>(kw * s.dilation_w)};
  }
}

__global__ void build_output_taps(OutputTap* taps, Conv2dShape s) {
  const int64_t R = s.O * s.KH * s.KW, taps_per_channel = s.KH * s.KW;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; r < R; r += step) {
    const int64_t o = r / taps_per_channel, in_channel = r % taps_per_channel;
    const int64_t kh = in_channel / s.KW, kw = in_channel % s.KW;
    taps[r] = OutputTap{o * s.C * taps_per_channel + kh * s.KW + kw, o * s.OH * s.OW,
                        static_cast<int32_t>(kh * s.dilation_h), static_cast<int32_t>(kw * s.dilation_w)};
  }
}

// Inside the kernels, positions within one image plane and one weight (ih, iw, ih*W + iw, k,
// channel counts) are ints: fewer registers and cheaper compares than int64. Offsets of whole
// images and channels stay int64. This checks that every such int fits, instead of wrapping.
void check_int_sizes(const Conv2dShape& s) {
  const int64_t limit = INT32_MAX;
  const bool fits = s.H * s.W <= limit && s.OH * s.OW <= limit && s.C * s.KH * s.KW <= limit &&
                    s.O * s.KH * s.KW <= limit && s.H + 2 * s.pad_h <= limit && s.W + 2 * s.pad_w <= limit &&
                    s.OH * s.stride_h <= limit && s.OW * s.stride_w <= limit &&
                    (s.KH - 1) * s.dilation_h <= limit && (s.KW - 1) * s.dilation_w <= limit;
  SC_CHECK(fits, "conv2d (CUDA): a size does not fit the kernels' 32-bit plane indices: input [", s.N, ", ", s.C,
           ", ", s.H, ", ", s.W, "], weight [", s.O, ", ", s.C, ", ", s.KH, ", ", s.KW, "], output ", s.OH, "x", s.OW);
}

DeviceBuffer make_input_taps(const Conv2dShape& s) {
  const int64_t K = s.C * s.KH * s.KW;
  DeviceBuffer taps(static_cast<size_t>(K) * sizeof(InputTap));
  if (K > 0) {
    build_input_taps<<<grid_for(K, 256), 256, 0, stream()>>>(taps.as<InputTap>(), s);
    check_launch("conv2d build_input_taps");
  }
  return taps;
}

DeviceBuffer make_output_taps(const Conv2dShape& s) {
  const int64_t R = s.O * s.KH * s.KW;
  DeviceBuffer taps(static_cast<size_t>(R) * sizeof(OutputTap));
  if (R > 0) {
    build_output_taps<<<grid_for(R, 256), 256, 0, stream()>>>(taps.as<OutputTap>(), s);
    check_launch("conv2d build_output_taps");
  }
  return taps;
}

// ---- tile shapes -----------------------------------------------------------------------
// BM x BN outputs per block, reduction step BK, TM x TN outputs per thread. The row tile is
// picked from the GEMM's row count (O or C: 32, 64, 128+ in the encoder) so that a small
// layer does not compute mostly-empty tiles.
template <int BM_, int BN_, int TM_, int TN_>
struct TileConfig {
  static constexpr int BM = BM_, BN = BN_, BK = 8, TM = TM_, TN = TN_;
  static constexpr int kThreads = (BM / TM) * (BN / TN);
  // Shared-memory rows are padded by 4 elements: keeps every row 16-byte aligned (float4
  // reads) and spreads the transposing stores over the banks.
  static constexpr int kPad = 4;
  static_assert(TM % 4 == 0 && TN % 4 == 0, "a thread's outputs come in groups of 4");
  static_assert(kThreads % BN == 0 && kThreads % BK == 0, "the gathers' thread mappings need these");
  static_assert((BM * BK) % kThreads == 0 && (BN * BK) % kThreads == 0, "whole tiles per thread");
};
// All three have 128 threads (4 warps) and 64 or 32 outputs per thread.
using TileRows32 = TileConfig<32, 128, 4, 8>;
using TileRows64 = TileConfig<64, 128, 8, 8>;
using TileRows128 = TileConfig<128, 64, 8, 8>;

// The forward's wide tile: 128 x 128 outputs, 256 threads (8 warps), 8x8 outputs per thread.
// Each gathered element of x and of W then feeds twice as many FMAs as in TileRows128, and a
// block of 8 warps at 2 blocks per SM keeps 16 warps resident (TileRows128: 3 blocks of 4 =
// 12), which hides more of the gather's global-memory latency. Used for float when there are
// enough columns (see use_wide_forward_tile): with few columns the larger tile leaves SMs idle.
using TileRows128Wide = TileConfig<128, 128, 8, 8>;

int64_t tile_rows_for(int64_t rows) { return rows <= 32 ? 32 : rows <= 64 ? 64 : 128; }
int64_t tile_cols_for(int64_t rows) { return rows <= 64 ? 128 : 64; }
constexpr int kTileStep = 8;  // BK of every config

// The wide tile replaces TileRows128 in the forward (so only with more than 64 output
// channels) when the columns fill at least 512 blocks of 128: about 2 waves of the 2 blocks per
// SM it runs on an H100, so the larger tile does not leave SMs idle in a short last wave
// (e.g. 7x7 images at batch 512 have 25088 columns: 196 blocks per 128 rows, too few). Every
// output is the same sum over k in the same order in both configs: the results are identical.
constexpr int64_t kWideForwardMinColumns = 512 * 128;
bool use_wide_forward_tile(int64_t rows, int64_t cols) {
  return tile_rows_for(rows) == 128 && cols >= kWideForwardMinColumns;
}

// Four consecutive shared-memory elements into registers, as one 16-byte read for float.
__device__ __forceinline__ void load4(const float* p, float* out) {
  const float4 v = *reinterpret_cast<const float4*>(p);
  out[0] = v.x, out[1] = v.y, out[2] = v.z, out[3] = v.w;
}
__device__ __forceinline__ void load4(const double* p, double* out) {
  const double2 lo = *reinterpret_cast<const double2*>(p);
  const double2 hi = *reinterpret_cast<const double2*>(p + 2);
  out[0] = lo.x, out[1] = lo.y, out[2] = hi.x, out[3] = hi.y;
}

// ---- the gathers -----------------------------------------------------------------------
// Each gather is constructed once per thread with the block's tile origin. The GEMM kernel
// calls load(r0) to fetch the operands of reduction step [r0, r0 + BK) from global memory into
// registers, store(As, Bs) to put them in shared memory as As[kk][row], Bs[kk][col], and,
// after the loop, output_offset(col) / row_stride() / row_bias(row) to write its tile.
// Every global read is bounds-checked; anything outside the problem reads as zero.

template <typename T>
struct ForwardArgs {
  const T* x;
  const T* weight;
  const T* bias;  // may be null
  T* y;
  const InputTap* taps;
  Conv2dShape s;
};

// forward: Y[o, (n,p)] = sum_k W[o, k] * X_col[k, (n,p)].
// A tile: W[o, k] rows, 8 consecutive threads read 8 consecutive k of one row.
// B tile: each thread owns one column (n, oh, ow) for the whole kernel, so its division into
// (n, oh, ow) happens once; consecutive threads own consecutive columns, so the reads of x
// are coalesced along a row of the image (stride 1).
template <typename T, class Cfg>
class ForwardGather {
 public:
  using Args = ForwardArgs<T>;
  static constexpr int kAPerThread = Cfg::BM * Cfg::BK / Cfg::kThreads;
  static constexpr int kBPerThread = Cfg::BN * Cfg::BK / Cfg::kThreads;
  static constexpr int kBRowStep = Cfg::kThreads / Cfg::BN;
  static constexpr int kARowStep = Cfg::kThreads / Cfg::BK;

  __device__ __forceinline__ ForwardGather(const Args& a, int row0, int64_t col0, int /*chunk*/, int tid)
      : weight_(a.weight), bias_(a.bias), y_(a.y), taps_(a.taps), tid_(tid), row0_(row0),
        rows_(static_cast<int>(a.s.O)), K_(static_cast<int>(a.s.C * a.s.KH * a.s.KW)), H_(static_cast<int>(a.s.H)),
        W_(static_cast<int>(a.s.W)), P_(static_cast<int>(a.s.OH * a.s.OW)), cols_(a.s.N * a.s.OH * a.s.OW) {
    const int64_t col = col0 + tid % Cfg::BN;
    column_valid_ = col < cols_;
    x_image_ = a.x;
    if (column_valid_) {
      const int64_t n = col / P_;
      const int p = static_cast<int>(col % P_);
      const int oh = p / static_cast<int>(a.s.OW), ow = p % static_cast<int>(a.s.OW);
      x_image_ = a.x + n * a.s.C * a.s.H * a.s.W;
      ih0_ = oh * static_cast<int>(a.s.stride_h) - static_cast<int>(a.s.pad_h);
      iw0_ = ow * static_cast<int>(a.s.stride_w) - static_cast<int>(a.s.pad_w);
    }
  }

  __device__ __forceinline__ int64_t reduction_begin() const { return 0; }
  __device__ __forceinline__ int64_t reduction_end() const { return K_; }
  __device__ __forceinline__ int64_t rows() const { return rows_; }
  __device__ __forceinline__ int64_t cols() const { return cols_; }

  __device__ __forceinline__ void load(int64_t step_begin) {
    const int r0 = static_cast<int>(step_begin);  // < K, an int (check_int_sizes)
    // Element idx = tid + i*kThreads of the A tile is row idx / BK = tid/BK + i*kARowStep and
    // step position idx % BK = tid % BK (kThreads is a multiple of BK): one row and one offset
    // per thread, advanced by a constant, rather than an address per element (fewer registers).
    const int k = r0 + tid_ % Cfg::BK;
    const int64_t a_offset = static_cast<int64_t>(row0_ + tid_ / Cfg::BK) * K_ + k;
#pragma unroll
    for (int i = 0; i < kAPerThread; ++i) {
      const int o = row0_ + tid_ / Cfg::BK + i * kARowStep;
      a_stage_[i] = (o < rows_ && k < K_) ? weight_[a_offset + static_cast<int64_t>(i) * kARowStep * K_] : T(0);
    }
#pragma unroll
    for (int i = 0; i < kBPerThread; ++i) {
      const int k = r0 + tid_ / Cfg::BN + i * kBRowStep;
      T v = T(0);
      if (column_valid_ && k < K_) {
        const InputTap tap = taps_[k];
        const int ih = ih0_ + tap.dh, iw = iw0_ + tap.dw;
        if (ih >= 0 && ih < H_ && iw >= 0 && iw < W_) v = x_image_[tap.channel_offset + (ih * W_ + iw)];
      }
      b_stage_[i] = v;
    }
  }

  __device__ __forceinline__ void store(T (*As)[Cfg::BM + Cfg::kPad], T (*Bs)[Cfg::BN + Cfg::kPad]) const {
#pragma unroll
    for (int i = 0; i < kAPerThread; ++i) {
      const int idx = tid_ + i * Cfg::kThreads;
      As[idx % Cfg::BK][idx / Cfg::BK] = a_stage_[i];
    }
#pragma unroll
    for (int i = 0; i < kBPerThread; ++i) Bs[tid_ / Cfg::BN + i * kBRowStep][tid_ % Cfg::BN] = b_stage_[i];
  }

  // y[n, o, p] for column (n, p) and row o.
  __device__ __forceinline__ T* output() const { return y_; }
  __device__ __forceinline__ int64_t output_offset(int64_t col) const {
    return (col / P_) * rows_ * P_ + col % P_;
  }
  __device__ __forceinline__ int64_t row_stride() const { return P_; }
  __device__ __forceinline__ T row_bias(int64_t row) const { return bias_ ? bias_[row] : T(0); }

 private:
  const T* weight_;
  const T* bias_;
  T* y_;
  const InputTap* taps_;
  int tid_, row0_, rows_, K_, H_, W_, P_;
  int64_t cols_;
  bool column_valid_ = false;
  const T* x_image_;  // x + n*C*H*W for this thread's column
  int ih0_ = 0, iw0_ = 0;
  T a_stage_[kAPerThread];
  T b_stage_[kBPerThread];
};

template <typename T>
struct BackwardInputArgs {
  const T* grad_y;
  const T* weight;
  T* grad_x;
  const OutputTap* taps;
  Conv2dShape s;
};

// grad input: dX[c, (n,ih,iw)] = sum_r W[r, c] * DY_gathered[r, (n,ih,iw)], r = (o, kh, kw).
// Same thread mapping as the forward. kUnitStride skips the two divisions by the stride
// (every encoder layer has stride 1).
template <typename T, class Cfg, bool kUnitStride>
class BackwardInputGather {
 public:
  using Args = BackwardInputArgs<T>;
  static constexpr int kAPerThread = Cfg::BM * Cfg::BK / Cfg::kThreads;
  static constexpr int kBPerThread = Cfg::BN * Cfg::BK / Cfg::kThreads;
  static constexpr int kBRowStep = Cfg::kThreads / Cfg::BN;

  __device__ __forceinline__ BackwardInputGather(const Args& a, int row0, int64_t col0, int /*chunk*/, int tid)
      : weight_(a.weight), grad_x_(a.grad_x), taps_(a.taps), tid_(tid), row0_(row0), rows_(static_cast<int>(a.s.C)),
        R_(static_cast<int>(a.s.O * a.s.KH * a.s.KW)), taps_per_channel_(static_cast<int>(a.s.KH * a.s.KW)),
        OH_(static_cast<int>(a.s.OH)), OW_(static_cast<int>(a.s.OW)), stride_h_(static_cast<int>(a.s.stride_h)),
        stride_w_(static_cast<int>(a.s.stride_w)), HW_(static_cast<int>(a.s.H * a.s.W)),
        cols_(a.s.N * a.s.H * a.s.W) {
    const int64_t col = col0 + tid % Cfg::BN;
    column_valid_ = col < cols_;
    grad_y_image_ = a.grad_y;
    if (column_valid_) {
      const int64_t n = col / HW_;
      const int pixel = static_cast<int>(col % HW_);
      const int ih = pixel / static_cast<int>(a.s.W), iw = pixel % static_cast<int>(a.s.W);
      grad_y_image_ = a.grad_y + n * a.s.O * a.s.OH * a.s.OW;
      th0_ = ih + static_cast<int>(a.s.pad_h);
      tw0_ = iw + static_cast<int>(a.s.pad_w);
    }
  }

  __device__ __forceinline__ int64_t reduction_begin() const { return 0; }
  __device__ __forceinline__ int64_t reduction_end() const { return R_; }
  __device__ __forceinline__ int64_t rows() const { return rows_; }
  __device__ __forceinline__ int64_t cols() const { return cols_; }

  __device__ __forceinline__ void load(int64_t step_begin) {
    const int r0 = static_cast<int>(step_begin);  // < O*KH*KW, an int (check_int_sizes)
#pragma unroll
    for (int i = 0; i < kAPerThread; ++i) {
      const int idx = tid_ + i * Cfg::kThreads;
      const int c = row0_ + idx / Cfg::BK, r = r0 + idx % Cfg::BK;
      a_stage_[i] = (c < rows_ && r < R_)
                        ? weight_[taps_[r].weight_offset + static_cast<int64_t>(c) * taps_per_channel_]
                        : T(0);
    }
#pragma unroll
    for (int i = 0; i < kBPerThread; ++i) {
      const int r = r0 + tid_ / Cfg::BN + i * kBRowStep;
      T v = T(0);
      if (column_valid_ && r < R_) {
        const OutputTap tap = taps_[r];
        // th = oh * stride_h for the output row that read this pixel with tap kh (if any).
        const int th = th0_ - tap.dh, tw = tw0_ - tap.dw;
        int oh = th, ow = tw;
        bool hit = th >= 0 && tw >= 0;  // tested before % and /: they round towards zero
        if constexpr (!kUnitStride) {
          hit = hit && th % stride_h_ == 0 && tw % stride_w_ == 0;
          oh = th / stride_h_;
          ow = tw / stride_w_;
        }
        if (hit && oh < OH_ && ow < OW_) v = grad_y_image_[tap.grad_y_offset + (oh * OW_ + ow)];
      }
      b_stage_[i] = v;
    }
  }

  __device__ __forceinline__ void store(T (*As)[Cfg::BM + Cfg::kPad], T (*Bs)[Cfg::BN + Cfg::kPad]) const {
#pragma unroll
    for (int i = 0; i < kAPerThread; ++i) {
      const int idx = tid_ + i * Cfg::kThreads;
      As[idx % Cfg::BK][idx / Cfg::BK] = a_stage_[i];
    }
#pragma unroll
    for (int i = 0; i < kBPerThread; ++i) Bs[tid_ / Cfg::BN + i * kBRowStep][tid_ % Cfg::BN] = b_stage_[i];
  }

  // grad_x[n, c, pixel] for column (n, pixel) and row c.
  __device__ __forceinline__ T* output() const { return grad_x_; }
  __device__ __forceinline__ int64_t output_offset(int64_t col) const {
    return (col / HW_) * rows_ * HW_ + col % HW_;
  }
  __device__ __forceinline__ int64_t row_stride() const { return HW_; }
  __device__ __forceinline__ T row_bias(int64_t) const { return T(0); }

 private:
  const T* weight_;
  T* grad_x_;
  const OutputTap* taps_;
  int tid_, row0_, rows_, R_, taps_per_channel_, OH_, OW_, stride_h_, stride_w_, HW_;
  int64_t cols_;
  bool column_valid_ = false;
  const T* grad_y_image_;  // grad_y + n*O*OH*OW for this thread's column
  int th0_ = 0, tw0_ = 0;
  T a_stage_[kAPerThread];
  T b_stage_[kBPerThread];
};
template <typename T, class Cfg>
using BackwardInputUnitStride = BackwardInputGather<T, Cfg, true>;
template <typename T, class Cfg>
using BackwardInputAnyStride = BackwardInputGather<T, Cfg, false>;

template <typename T>
struct BackwardWeightArgs {
  const T* grad_y;
  const T* x;
  T* out;              // grad_weight when there is one chunk, else the workspace [chunks, O, K]
  const InputTap* taps;
  int64_t chunk_length;  // output pixels (n, p) per chunk, a multiple of BK
  Conv2dShape s;
};

// grad weight: dW[o, k] = sum_j DY[o, j] * X_col[k, j] over the output pixels j = (n, oh, ow)
// of this block's chunk. Here the reduction index is the pixel, so each thread owns one
// position jj within the BK-step (consecutive threads: consecutive pixels, coalesced reads of
// dy and x) and walks its pixel forward by BK per step, carrying (n, oh, ow) along instead of
// dividing again.
template <typename T, class Cfg>
class BackwardWeightGather {
 public:
  using Args = BackwardWeightArgs<T>;
  static constexpr int kGroupStep = Cfg::kThreads / Cfg::BK;  // threads per jj
  static constexpr int kAPerThread = Cfg::BM / kGroupStep;
  static constexpr int kBPerThread = Cfg::BN / kGroupStep;
  static_assert(Cfg::BM % kGroupStep == 0 && Cfg::BN % kGroupStep == 0, "whole tiles per thread");

  __device__ __forceinline__ BackwardWeightGather(const Args& a, int row0, int64_t col0, int chunk, int tid)
      : taps_(a.taps), tid_(tid), row0_(row0), col0_(static_cast<int>(col0)), rows_(static_cast<int>(a.s.O)),
        cols_(static_cast<int>(a.s.C * a.s.KH * a.s.KW)), H_(static_cast<int>(a.s.H)), W_(static_cast<int>(a.s.W)),
        OH_(static_cast<int>(a.s.OH)), OW_(static_cast<int>(a.s.OW)), stride_h_(static_cast<int>(a.s.stride_h)),
        stride_w_(static_cast<int>(a.s.stride_w)), pad_h_(static_cast<int>(a.s.pad_h)),
        pad_w_(static_cast<int>(a.s.pad_w)), grad_y_image_size_(a.s.O * a.s.OH * a.s.OW),
        x_image_size_(a.s.C * a.s.H * a.s.W) {
    const int64_t total = a.s.N * a.s.OH * a.s.OW;  // > 0: the host launches nothing otherwise
    begin_ = static_cast<int64_t>(chunk) * a.chunk_length;
    end_ = begin_ + a.chunk_length < total ? begin_ + a.chunk_length : total;
    out_ = a.out + static_cast<int64_t>(chunk) * rows_ * cols_;
    // This thread's first pixel. Past the end it is never read (loads check j < end_).
    j_ = begin_ + tid % Cfg::BK;
    const int P = OH_ * OW_;
    const int64_t n = j_ / P;
    const int p = static_cast<int>(j_ % P);
    oh_ = p / OW_;
    ow_ = p % OW_;
    grad_y_ = a.grad_y;
    x_ = a.x;
    grad_y_image_offset_ = n * grad_y_image_size_;
    x_image_offset_ = n * x_image_size_;
  }

  __device__ __forceinline__ int64_t reduction_begin() const { return begin_; }
  __device__ __forceinline__ int64_t reduction_end() const { return end_; }
  __device__ __forceinline__ int64_t rows() const { return rows_; }
  __device__ __forceinline__ int64_t cols() const { return cols_; }

  // Loads the step that holds pixel j_ (the caller's step_begin is implied: load is called
  // once per step, in order), then moves j_ on by BK.
  __device__ __forceinline__ void load(int64_t /*step_begin*/) {
    const bool pixel_valid = j_ < end_;
    const int pixel = oh_ * OW_ + ow_, plane = OH_ * OW_;
    const int ih0 = oh_ * stride_h_ - pad_h_, iw0 = ow_ * stride_w_ - pad_w_;
    // Formed only for a pixel in range, so the pointers stay inside the buffers.
    const T* grad_y_image = pixel_valid ? grad_y_ + grad_y_image_offset_ : grad_y_;
    const T* x_image = pixel_valid ? x_ + x_image_offset_ : x_;
#pragma unroll
    for (int i = 0; i < kAPerThread; ++i) {
      const int o = row0_ + tid_ / Cfg::BK + i * kGroupStep;
      a_stage_[i] = (pixel_valid && o < rows_) ? grad_y_image[static_cast<int64_t>(o) * plane + pixel] : T(0);
    }
#pragma unroll
    for (int i = 0; i < kBPerThread; ++i) {
      const int k = col0_ + tid_ / Cfg::BK + i * kGroupStep;
      T v = T(0);
      if (pixel_valid && k < cols_) {
        const InputTap tap = taps_[k];
        const int ih = ih0 + tap.dh, iw = iw0 + tap.dw;
        if (ih >= 0 && ih < H_ && iw >= 0 && iw < W_) v = x_image[tap.channel_offset + (ih * W_ + iw)];
      }
      b_stage_[i] = v;
    }
    // Advance by BK pixels. OW, OH >= 1 here, so each loop ends; an image smaller than BK
    // pixels makes the second loop run more than once.
    j_ += Cfg::BK;
    ow_ += Cfg::BK;
    while (ow_ >= OW_) ow_ -= OW_, ++oh_;
    while (oh_ >= OH_) {
      oh_ -= OH_;
      grad_y_image_offset_ += grad_y_image_size_;
      x_image_offset_ += x_image_size_;
    }
  }

  __device__ __forceinline__ void store(T (*As)[Cfg::BM + Cfg::kPad], T (*Bs)[Cfg::BN + Cfg::kPad]) const {
    const int jj = tid_ % Cfg::BK;
#pragma unroll
    for (int i = 0; i < kAPerThread; ++i) As[jj][tid_ / Cfg::BK + i * kGroupStep] = a_stage_[i];
#pragma unroll
    for (int i = 0; i < kBPerThread; ++i) Bs[jj][tid_ / Cfg::BK + i * kGroupStep] = b_stage_[i];
  }

  // out[o, k]: grad_weight itself, or this chunk's slice of the workspace.
  __device__ __forceinline__ T* output() const { return out_; }
  __device__ __forceinline__ int64_t output_offset(int64_t col) const { return col; }
  __device__ __forceinline__ int64_t row_stride() const { return cols_; }
  __device__ __forceinline__ T row_bias(int64_t) const { return T(0); }

 private:
  const InputTap* taps_;
  int tid_, row0_, col0_, rows_, cols_, H_, W_, OH_, OW_, stride_h_, stride_w_, pad_h_, pad_w_;
  int64_t grad_y_image_size_, x_image_size_;
  T* out_;
  int64_t begin_ = 0, end_ = 0, j_ = 0;
  int oh_ = 0, ow_ = 0;
  // Where the image of pixel j_ starts in grad_y and x: they move on by one image each time
  // j_ crosses into the next (offsets, not pointers: past the end they are never used).
  const T* grad_y_;
  const T* x_;
  int64_t grad_y_image_offset_ = 0, x_image_offset_ = 0;
  T a_stage_[kAPerThread];
  T b_stage_[kBPerThread];
};

// ---- the GEMM kernel -------------------------------------------------------------------
// Block (blockIdx.x, blockIdx.y) computes columns [col0, col0 + BN) x rows [row0, row0 + BM);
// blockIdx.z is the reduction chunk (grad weight only; 0 otherwise). Thread (ty, tx) owns rows
// g * BM/(TM/4) + ty*4 + {0..3} for g < TM/4, and likewise columns.
//
// Float: at least 3 blocks of 128 threads per SM, which leaves 168 registers per thread: the
// 64 accumulators, 16 operand registers, the staged loads and the gather's state fit without
// spilling (at 128 registers, 4 blocks per SM, they spill). Double needs twice as many
// registers for the same tile, so it is left unconstrained.
// The 256-thread wide tile asks for 2 blocks per SM, a cap of 65536 / (2 * 256) = 128
// registers per thread (each thread stages 4 + 4 operands, 8 + 4 in TileRows128). ptxas
// (CUDA 13, sm_90) then spills 48 bytes of loop-invariant gather state: about 9 local loads
// per BK-step, L1 hits, beside the step's 512 FMAs per thread.
template <typename T, class Cfg>
constexpr int min_blocks_per_sm() {
  if constexpr (sizeof(T) != 4) return 1;
  return Cfg::kThreads >= 256 ? 2 : 3;
}

template <typename T, class Cfg, class Gather>
__global__ void __launch_bounds__(Cfg::kThreads, min_blocks_per_sm<T, Cfg>())
    implicit_gemm(typename Gather::Args args) {
  constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK, TM = Cfg::TM, TN = Cfg::TN;
  constexpr int kRowGroups = TM / 4, kColGroups = TN / 4;
  constexpr int kRowGroupStride = BM / kRowGroups, kColGroupStride = BN / kColGroups;
  __shared__ __align__(16) T As[2][BK][BM + Cfg::kPad];
  __shared__ __align__(16) T Bs[2][BK][BN + Cfg::kPad];

  const int tid = static_cast<int>(threadIdx.x);
  const int ty = tid / (BN / TN), tx = tid % (BN / TN);
  const int row0 = static_cast<int>(blockIdx.y) * BM;  // < 65535 * 128
  const int64_t col0 = static_cast<int64_t>(blockIdx.x) * BN;
  Gather gather(args, row0, col0, static_cast<int>(blockIdx.z), tid);

  T acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = T(0);

  const int64_t r_begin = gather.reduction_begin(), r_end = gather.reduction_end();
  if (r_begin < r_end) {  // the same for every thread of the block
    gather.load(r_begin);
    gather.store(As[0], Bs[0]);
    __syncthreads();
    int buf = 0;
    for (int64_t r0 = r_begin; r0 < r_end; r0 += BK) {
      const bool has_next = r0 + BK < r_end;
      if (has_next) gather.load(r0 + BK);  // global reads in flight while we multiply
#pragma unroll
      for (int kk = 0; kk < BK; ++kk) {
        T a[TM], b[TN];
#pragma unroll
        for (int g = 0; g < kRowGroups; ++g) load4(&As[buf][kk][g * kRowGroupStride + ty * 4], &a[g * 4]);
#pragma unroll
        for (int g = 0; g < kColGroups; ++g) load4(&Bs[buf][kk][g * kColGroupStride + tx * 4], &b[g * 4]);
#pragma unroll
        for (int i = 0; i < TM; ++i)
#pragma unroll
          for (int j = 0; j < TN; ++j) acc[i][j] += a[i] * b[j];
      }
      // The other buffer was last read before the previous __syncthreads: safe to refill.
      if (has_next) gather.store(As[buf ^ 1], Bs[buf ^ 1]);
      __syncthreads();
      buf ^= 1;
    }
  }

  // Write the tile. Four consecutive columns that are consecutive in memory (the same image
  // row, for the forward) and 16-byte aligned go out as one float4 per row.
  T* out = gather.output();
  const int64_t row_stride = gather.row_stride();
#pragma unroll
  for (int gc = 0; gc < kColGroups; ++gc) {
    const int64_t first_col = col0 + gc * kColGroupStride + tx * 4;
    int64_t offset[4];
    bool valid[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      valid[j] = first_col + j < gather.cols();
      offset[j] = valid[j] ? gather.output_offset(first_col + j) : 0;
    }
    bool vector_store = false;
    if constexpr (std::is_same_v<T, float>) {
      vector_store = valid[3] && offset[1] == offset[0] + 1 && offset[2] == offset[0] + 2 &&
                     offset[3] == offset[0] + 3 && row_stride % 4 == 0 &&
                     reinterpret_cast<uintptr_t>(out + offset[0]) % 16 == 0;
    }
#pragma unroll
    for (int g = 0; g < kRowGroups; ++g) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int row = row0 + g * kRowGroupStride + ty * 4 + i;
        if (row >= gather.rows()) continue;
        const T bias = gather.row_bias(row);
        const T* a = acc[g * 4 + i] + gc * 4;
        if constexpr (std::is_same_v<T, float>) {
          if (vector_store) {
            *reinterpret_cast<float4*>(out + offset[0] + row * row_stride) =
                make_float4(a[0] + bias, a[1] + bias, a[2] + bias, a[3] + bias);
            continue;
          }
        }
#pragma unroll
        for (int j = 0; j < 4; ++j)
          if (valid[j]) out[offset[j] + row * row_stride] = a[j] + bias;
      }
    }
  }
}

// Launches the GEMM with the tile config that suits `rows`.
template <typename T, class Cfg, template <typename, class> class Gather>
void launch_with(const typename Gather<T, Cfg>::Args& args, int64_t rows, int64_t cols, int64_t chunks,
                 const char* name) {
  const int64_t blocks_x = ceil_div(cols, Cfg::BN), blocks_y = ceil_div(rows, Cfg::BM);
  SC_CHECK(blocks_x <= INT32_MAX && blocks_y <= 65535 && chunks <= 65535, "conv2d (CUDA): ", name,
           ": the problem is too large for one launch (", rows, " rows x ", cols, " columns x ", chunks, " chunks)");
  const dim3 grid(static_cast<unsigned>(blocks_x), static_cast<unsigned>(blocks_y), static_cast<unsigned>(chunks));
  implicit_gemm<T, Cfg, Gather<T, Cfg>><<<grid, Cfg::kThreads, 0, stream()>>>(args);
  check_launch(name);
}

template <typename T, template <typename, class> class Gather>
void launch_implicit_gemm(const typename Gather<T, TileRows32>::Args& args, int64_t rows, int64_t cols,
                          int64_t chunks, const char* name) {
  if (rows <= 0 || cols <= 0 || chunks <= 0) return;  // nothing to write: never launch an empty grid
  switch (tile_rows_for(rows)) {
    case 32: launch_with<T, TileRows32, Gather>(args, rows, cols, chunks, name); break;
    case 64: launch_with<T, TileRows64, Gather>(args, rows, cols, chunks, name); break;
    default: launch_with<T, TileRows128, Gather>(args, rows, cols, chunks, name); break;
  }
}

// ---- the grad-weight chunk sum and grad bias ---------------------------------------------

// grad_weight[i] = sum over chunks c, in order, of partial[c][i].
template <typename T>
__global__ void sum_chunks(const T* partial, int64_t chunks, int64_t n, T* out) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    double acc = 0;  // float partials summed in double: cheap here, and a few bits better
    for (int64_t c = 0; c < chunks; ++c) acc += static_cast<double>(partial[c * n + i]);
    out[i] = static_cast<T>(acc);
  }
}

constexpr int kBiasThreads = 256;

// Block (o, part) sums channel o of the images [part*N/parts, (part+1)*N/parts) into
// partial[o * parts + part]: each thread strides over a row in a fixed pattern, then the block
// adds the threads' sums as a fixed tree. Double accumulators, like the CPU version.
template <typename T>
__global__ void __launch_bounds__(kBiasThreads)
    bias_partial_sums(const T* grad_y, int64_t N, int64_t O, int64_t P, int64_t parts, double* partial) {
  __shared__ double sums[kBiasThreads];
  const int64_t o = blockIdx.x, part = blockIdx.y;
  const int64_t first = N * part / parts, last = N * (part + 1) / parts;
  double acc = 0;
  for (int64_t n = first; n < last; ++n) {
    const T* row = grad_y + (n * O + o) * P;
    for (int64_t p = threadIdx.x; p < P; p += kBiasThreads) acc += static_cast<double>(row[p]);
  }
  sums[threadIdx.x] = acc;
  __syncthreads();
  for (int half = kBiasThreads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) sums[threadIdx.x] += sums[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[o * parts + part] = sums[0];
}

template <typename T>
__global__ void bias_finish(const double* partial, int64_t O, int64_t parts, T* grad_bias) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < O; o += step) {
    double acc = 0;
    for (int64_t part = 0; part < parts; ++part) acc += partial[o * parts + part];
    grad_bias[o] = static_cast<T>(acc);
  }
}

// Blocks the split reductions aim for: a few per SM on an H100, fixed so that the chunking
// (and with it every bit of the result) depends on the shape only, never on the GPU.
constexpr int64_t kTargetBlocks = 640;
// A chunk shorter than this many output pixels costs more in workspace traffic than it gains.
constexpr int64_t kMinChunkPixels = 256;

}  // namespace

// ---- host entry points -------------------------------------------------------------------

namespace conv_path {

template <typename T>
void handwritten_forward(const T* x, const T* weight, const T* bias, T* y, const Conv2dShape& s) {
  const int64_t columns = s.N * s.OH * s.OW;
  if (columns == 0 || s.O == 0) return;  // y is empty
  check_int_sizes(s);
  const DeviceBuffer taps = make_input_taps(s);
  const ForwardArgs<T> args{x, weight, bias, y, taps.as<InputTap>(), s};
  if constexpr (std::is_same_v<T, float>) {
    if (use_wide_forward_tile(s.O, columns)) {
      launch_with<T, TileRows128Wide, ForwardGather>(args, s.O, columns, 1, "conv2d_forward (implicit gemm, wide)");
      return;
    }
  }
  launch_implicit_gemm<T, ForwardGather>(args, s.O, columns, 1, "conv2d_forward (implicit gemm)");
}

template <typename T>
void handwritten_backward_input(const T* grad_y, const T* weight, T* grad_x, const Conv2dShape& s) {
  const int64_t columns = s.N * s.H * s.W;
  if (columns == 0 || s.C == 0) return;  // grad_x is empty
  check_int_sizes(s);
  // With O*KH*KW = 0 (or no output pixels) the GEMM's reduction is empty or reads only
  // zeros, and it still writes every element of grad_x.
  const DeviceBuffer taps = make_output_taps(s);
  const BackwardInputArgs<T> args{grad_y, weight, grad_x, taps.as<OutputTap>(), s};
  if (s.stride_h == 1 && s.stride_w == 1)
    launch_implicit_gemm<T, BackwardInputUnitStride>(args, s.C, columns, 1, "conv2d_backward_input (implicit gemm)");
  else
    launch_implicit_gemm<T, BackwardInputAnyStride>(args, s.C, columns, 1, "conv2d_backward_input (implicit gemm)");
}

template <typename T>
void handwritten_backward_weight(const T* grad_y, const T* x, T* grad_weight, const Conv2dShape& s) {
  const int64_t K = s.C * s.KH * s.KW, weight_size = s.O * K, pixels = s.N * s.OH * s.OW;
  if (weight_size == 0) return;
  if (pixels == 0) {  // an empty sum
    SC_CUDA_CHECK(cudaMemsetAsync(grad_weight, 0, static_cast<size_t>(weight_size) * sizeof(T), stream()));
    return;
  }
  // The chunking: enough blocks to fill the GPU, no chunk shorter than kMinChunkPixels, and a
  // chunk length that is a whole number of BK-steps. A function of the shape only.
  const int64_t tiles = ceil_div(s.O, tile_rows_for(s.O)) * ceil_div(K, tile_cols_for(s.O));
  int64_t chunks = ceil_div(kTargetBlocks, tiles);
  chunks = std::min(chunks, std::max<int64_t>(1, pixels / kMinChunkPixels));
  chunks = std::min<int64_t>(chunks, 65535);
  const int64_t chunk_length = ceil_div(ceil_div(pixels, chunks), kTileStep) * kTileStep;
  chunks = ceil_div(pixels, chunk_length);  // no empty chunk at the end

  check_int_sizes(s);
  const DeviceBuffer taps = make_input_taps(s);
  // One chunk writes grad_weight directly; several write [chunks, O, K] partial sums first.
  DeviceBuffer workspace(chunks > 1 ? static_cast<size_t>(chunks * weight_size) * sizeof(T) : 0);
  T* out = chunks > 1 ? workspace.as<T>() : grad_weight;
  const BackwardWeightArgs<T> args{grad_y, x, out, taps.as<InputTap>(), chunk_length, s};
  launch_implicit_gemm<T, BackwardWeightGather>(args, s.O, K, chunks, "conv2d_backward_weight (implicit gemm)");
  if (chunks > 1) {
    sum_chunks<T><<<grid_for(weight_size, 256), 256, 0, stream()>>>(workspace.as<T>(), chunks, weight_size,
                                                                      grad_weight);
    check_launch("conv2d_backward_weight sum_chunks");
  }
}

}  // namespace conv_path

template <typename T>
void conv2d_backward_bias(const T* grad_y, T* grad_bias, const Conv2dShape& s) {
  if (s.O == 0) return;
  const int64_t P = s.OH * s.OW;
  if (s.N == 0 || P == 0) {
    SC_CUDA_CHECK(cudaMemsetAsync(grad_bias, 0, static_cast<size_t>(s.O) * sizeof(T), stream()));
    return;
  }
  // About kTargetBlocks blocks in all, at most one part per image.
  const int64_t parts = std::min(std::min(s.N, std::max<int64_t>(1, kTargetBlocks / s.O)), int64_t{65535});
  SC_CHECK(s.O <= INT32_MAX, "conv2d (CUDA): too many output channels for grad bias: ", s.O);
  DeviceBuffer partial(static_cast<size_t>(s.O * parts) * sizeof(double));
  const dim3 grid(static_cast<unsigned>(s.O), static_cast<unsigned>(parts));
  bias_partial_sums<T><<<grid, kBiasThreads, 0, stream()>>>(grad_y, s.N, s.O, P, parts, partial.as<double>());
  check_launch("conv2d_backward_bias partial sums");
  bias_finish<T><<<grid_for(s.O, 256), 256, 0, stream()>>>(partial.as<double>(), s.O, parts, grad_bias);
  check_launch("conv2d_backward_bias finish");
}

// ---- the path switch ---------------------------------------------------------------------

template <typename T>
void conv2d_forward(const T* x, const T* weight, const T* bias, T* y, const Conv2dShape& s) {
  if (kernel_path() == KernelPath::Vendor) return conv_path::cudnn_forward<T>(x, weight, bias, y, s);
  // Winograd F(2x2, 3x3) for the 3x3 stride-1 float32 convolutions, when asked for
  // (SC_CUDA_CONV=winograd; kernels/winograd.h).
  if constexpr (std::is_same_v<T, float>)
    if (conv_algo() == ConvAlgo::Winograd && winograd_applies(s)) return winograd_conv2d_forward(x, weight, bias, y, s);
  conv_path::handwritten_forward<T>(x, weight, bias, y, s);
}

template <typename T>
void conv2d_backward_input(const T* grad_y, const T* weight, T* grad_x, const Conv2dShape& s) {
  if (kernel_path() == KernelPath::Vendor) return conv_path::cudnn_backward_input<T>(grad_y, weight, grad_x, s);
  if constexpr (std::is_same_v<T, float>)
    if (conv_algo() == ConvAlgo::Winograd && winograd_applies_to_input_gradient(s))
      return winograd_conv2d_backward_input(grad_y, weight, grad_x, s);
  conv_path::handwritten_backward_input<T>(grad_y, weight, grad_x, s);
}

template <typename T>
void conv2d_backward_weight(const T* grad_y, const T* x, T* grad_weight, const Conv2dShape& s) {
  if (kernel_path() == KernelPath::Vendor) return conv_path::cudnn_backward_weight<T>(grad_y, x, grad_weight, s);
  if constexpr (std::is_same_v<T, float>)
    if (conv_algo() == ConvAlgo::Winograd && winograd_applies(s))
      return winograd_conv2d_backward_weight(grad_y, x, grad_weight, s);
  conv_path::handwritten_backward_weight<T>(grad_y, x, grad_weight, s);
}

#define SC_INSTANTIATE_CUDA_CONV2D(T)                                                                       \
  template void conv2d_forward<T>(const T*, const T*, const T*, T*, const Conv2dShape&);                    \
  template void conv2d_backward_input<T>(const T*, const T*, T*, const Conv2dShape&);                       \
  template void conv2d_backward_weight<T>(const T*, const T*, T*, const Conv2dShape&);                      \
  template void conv2d_backward_bias<T>(const T*, T*, const Conv2dShape&);                                  \
  template void conv_path::handwritten_forward<T>(const T*, const T*, const T*, T*, const Conv2dShape&);    \
  template void conv_path::handwritten_backward_input<T>(const T*, const T*, T*, const Conv2dShape&);       \
  template void conv_path::handwritten_backward_weight<T>(const T*, const T*, T*, const Conv2dShape&);
SC_INSTANTIATE_CUDA_CONV2D(float)
SC_INSTANTIATE_CUDA_CONV2D(double)
#undef SC_INSTANTIATE_CUDA_CONV2D

}  // namespace sc::kernels::cuda
