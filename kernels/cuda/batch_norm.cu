// Batch normalisation on the GPU (the contract is in kernels/batch_norm.h; the CPU reference
// is kernels/cpu/batch_norm.cpp).
//
// x is a contiguous [N, C, HW] block: channel c is N runs of HW values, C * HW apart.
//
// Training forward, three launches:
//   1. channel_sums_*      every block sums a fixed chunk of one channel's values into one
//                          partial (two doubles); many blocks per channel fill the GPU
//   2. combine_channels    one warp per channel adds its partials in a fixed order and turns
//                          the sums into mean, invstd, running statistics and the channel's
//                          (scale, shift)
//   3. apply_affine        y = x * scale[c] + shift[c], one memory-bound elementwise pass
// Backward: the same two reduction steps over (dy, dy * (x - mean)), then one dx pass.
// Nothing is ever added with an atomic, so the bits are the same run to run.
//
// Napkin math for [512, 64, 28, 28] float32 (102.8 MB a tensor): the forward reads x twice
// and writes y once (3 x 102.8 MB); the backward reads x and dy twice and writes dx (5 x).
// A device-to-device copy moves 2 x 102.8 MB, so "as fast as a copy" means bytes moved per
// second equal to the copy's.
//
// Statistics in double, in one pass. The CPU takes two passes (the mean, then squared
// deviations) to avoid the cancellation of E[x^2] - E[x]^2. Here each channel's sums are
// taken around a shift K (the channel's first value), which is as good when K is near the
// mean, and K always is within the data's spread:
//   S1 = sum(x - K),  S2 = sum((x - K)^2),  mean = K + S1 / M,  squares = S2 - S1^2 / M.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <type_traits>

#include "kernels/batch_norm.h"
#include "kernels/cuda/common.cuh"

namespace sc::kernels::cuda {

namespace {

constexpr int kThreads = 256;  // every launch of this file; a multiple of 32

// ---- small device helpers ------------------------------------------------------------------

// The widest load we use: 16 bytes, i.e. 4 floats or 2 doubles.
template <typename T>
constexpr int kVecWidth = 16 / static_cast<int>(sizeof(T));

// Sum over the 32 lanes of a warp, in a fixed tree; every lane must take part. Lane 0 gets it.
__device__ __forceinline__ double warp_sum(double v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

// Sum of (a, b) over the block, in a fixed order (lanes, then warps). Thread 0 gets it.
// Every thread of the block must call it.
__device__ __forceinline__ double2 block_sum(double a, double b) {
  __shared__ double2 per_warp[32];
  a = warp_sum(a);
  b = warp_sum(b);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) per_warp[warp] = make_double2(a, b);
  __syncthreads();
  double2 total = make_double2(0.0, 0.0);
  if (warp == 0) {
    const int warps = static_cast<int>(blockDim.x) / 32;
    const double2 mine = lane < warps ? per_warp[lane] : make_double2(0.0, 0.0);
    total = make_double2(warp_sum(mine.x), warp_sum(mine.y));
  }
  return total;
}

// One element's contribution to the channel sums, d = x - shift:
//   forward  (no dy): (d, d * d)        -> mean and variance
//   backward (dy):    (dy, dy * d)      -> sum(dy) and sum(dy * (x - mean))
template <bool kWithDy, typename T>
__device__ __forceinline__ void accumulate(T x, T dy, double shift, double& s1, double& s2) {
  const double d = static_cast<double>(x) - shift;
  if constexpr (kWithDy) {
    const double g = static_cast<double>(dy);
    s1 += g;
    s2 += g * d;
  } else {
    s1 += d;
    s2 += d * d;
  }
}


// The channel of element `first` of a contiguous [N, C, HW] block: (first / HW) % C.
template <typename Index>
struct ChannelOf {
  Index C;
  Divider<Index> by_HW, by_C;
  ChannelOf(int64_t channels, int64_t hw) : C(static_cast<Index>(channels)), by_HW(hw), by_C(channels) {}
  __device__ __forceinline__ Index operator()(Index first) const {
    const Index row = by_HW.div(first);  // n * C + c
    return row - by_C.div(row) * C;
  }
};

// ---- step 1: partial sums --------------------------------------------------------------------

// For channels stored as runs of HW >= a few sectors: block b sums chunk (b % chunks) of
// channel (b / chunks), a range of the channel's packs of V values (V divides HW, so a pack
// never crosses a run). Consecutive threads read consecutive packs: coalesced.
// partial[b] = the chunk's (s1, s2), so channel c's partials are partial[c * chunks + k].
template <typename T, typename Index, int V, bool kWithDy>
__global__ void __launch_bounds__(kThreads)
    channel_sums_runs(const T* __restrict__ x, const T* __restrict__ dy, const T* __restrict__ shift_src,
                      Index shift_stride, Index C, Index HW, Index packs_per_channel, Index chunks,
                      Index packs_per_chunk, Divider<Index> by_packs_per_run, double2* __restrict__ partial) {
  const Index c = static_cast<Index>(blockIdx.x) / chunks;
  const Index chunk = static_cast<Index>(blockIdx.x) - c * chunks;
  const double shift = static_cast<double>(shift_src[c * shift_stride]);
  const Index packs_per_run = HW / V;
  const Index begin = chunk * packs_per_chunk;
  const Index end = min(begin + packs_per_chunk, packs_per_channel);
  double s1 = 0, s2 = 0;
#pragma unroll 4
  for (Index p = begin + static_cast<Index>(threadIdx.x); p < end; p += static_cast<Index>(blockDim.x)) {
    const Index n = by_packs_per_run.div(p);
    const Index at = (n * C + c) * HW + (p - n * packs_per_run) * V;
    const Pack<T, V> xs = load_pack<T, V>(x + at);
    Pack<T, V> gs{};
    if constexpr (kWithDy) gs = load_pack<T, V>(dy + at);
#pragma unroll
    for (int j = 0; j < V; ++j) accumulate<kWithDy>(xs.v[j], gs.v[j], shift, s1, s2);
  }
  const double2 total = block_sum(s1, s2);
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

// For small HW (down to 1, the [N, C] case), where a channel's runs are too short to
// coalesce: view x as N rows of F = C * HW columns. Thread f of a block sums column f over
// the rows of its chunk, so a warp reads 32 neighbouring columns of a row: coalesced.
// Block b covers column block (b % col_blocks) and row chunk (b / col_blocks);
// partial[chunk * F + f] = the column's (s1, s2). Channel c owns columns c*HW .. c*HW+HW-1.
template <typename T, typename Index, bool kWithDy>
__global__ void __launch_bounds__(kThreads)
    channel_sums_interleaved(const T* __restrict__ x, const T* __restrict__ dy, const T* __restrict__ shift_src,
                             Index shift_stride, Index N, Index F, Index HW, Index col_blocks, Index rows_per_chunk,
                             double2* __restrict__ partial) {
  const Index col_block = static_cast<Index>(blockIdx.x) % col_blocks;
  const Index chunk = static_cast<Index>(blockIdx.x) / col_blocks;
  const Index f = col_block * static_cast<Index>(blockDim.x) + static_cast<Index>(threadIdx.x);
  if (f >= F) return;  // no block-wide step follows, so leaving early is safe
  const double shift = static_cast<double>(shift_src[(f / HW) * shift_stride]);
  const Index row_begin = chunk * rows_per_chunk;
  const Index row_end = min(row_begin + rows_per_chunk, N);
  double s1 = 0, s2 = 0;
#pragma unroll 4
  for (Index n = row_begin; n < row_end; ++n) {
    const Index at = n * F + f;
    T g = T(0);
    if constexpr (kWithDy) g = dy[at];
    accumulate<kWithDy>(x[at], g, shift, s1, s2);
  }
  partial[chunk * F + f] = make_double2(s1, s2);
}

// ---- step 2: combine per channel, then finish ------------------------------------------------

// One warp per channel. Channel c's partials are partial[k * outer_stride + c * channel_stride + i]
// for k < outer, i < inner (runs: outer = chunks, inner = 1; interleaved: outer = row chunks,
// inner = HW). Each lane adds its share in increasing order, the warp adds the lanes in a
// fixed tree, and lane 0 hands the channel's (s1, s2) to finish(c, s1, s2).
template <typename Index, typename Finish>
__global__ void __launch_bounds__(kThreads)
    combine_channels(const double2* __restrict__ partial, Index C, Index outer, Index outer_stride,
                     Index channel_stride, Index inner, Finish finish) {
  const int lane = threadIdx.x % 32;
  const Index c = static_cast<Index>(blockIdx.x) * (kThreads / 32) + static_cast<Index>(threadIdx.x / 32);
  if (c >= C) return;  // c is the same for the 32 lanes of a warp: whole warps leave together
  const Index items = outer * inner;
  double s1 = 0, s2 = 0;
  for (Index t = lane; t < items; t += 32) {
    const Index k = t / inner;
    const double2 v = partial[k * outer_stride + c * channel_stride + (t - k * inner)];
    s1 += v.x;
    s2 += v.y;
  }
  s1 = warp_sum(s1);
  s2 = warp_sum(s2);
  if (lane == 0) finish(static_cast<int64_t>(c), s1, s2);
}

// finish(c, 0, 0) for every channel: the per-channel step when no sums are needed.
template <typename Finish>
__global__ void __launch_bounds__(kThreads) for_each_channel(int64_t C, Finish finish) {
  for (int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; c < C;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x)
    finish(c, 0.0, 0.0);
}

// The finishing steps. Each is a small struct of pointers passed by value to the kernel.

// Training forward: (s1, s2) are the sums around the shift K = x[c * HW] (see the top).
// Writes the saved statistics, updates the running ones like the CPU kernel, and the
// channel's y = x * scale + shift into affine[c].
template <typename T>
struct FinishTrainStats {
  const T* x;
  int64_t HW;
  double M;
  const T *gamma, *beta;
  double eps, momentum;
  T *save_mean, *save_invstd, *running_mean, *running_var;
  double2* affine;

  __device__ void operator()(int64_t c, double sum_d, double sum_d2) const {
    const double mean = static_cast<double>(x[c * HW]) + sum_d / M;
    // sum((x - mean)^2) = sum((x - K)^2) - sum(x - K)^2 / M; rounding may leave a tiny negative
    const double squares = fmax(sum_d2 - sum_d * sum_d / M, 0.0);
    const double var = squares / M;  // biased: what normalises the batch
    const double invstd = 1.0 / sqrt(var + eps);
    save_mean[c] = static_cast<T>(mean);
    save_invstd[c] = static_cast<T>(invstd);
    if (running_mean)
      running_mean[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_mean[c]) + momentum * mean);
    if (running_var) {
      const double unbiased = squares / (M - 1.0);
      running_var[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_var[c]) + momentum * unbiased);
    }
    const double scale = (gamma ? static_cast<double>(gamma[c]) : 1.0) * invstd;
    const double shift = (beta ? static_cast<double>(beta[c]) : 0.0) - mean * scale;
    affine[c] = make_double2(scale, shift);
  }
};

// Evaluation forward: the statistics come from the running ones; no sums.
template <typename T>
struct FinishEvalStats {
  const T *gamma, *beta, *running_mean, *running_var;
  double eps;
  T *save_mean, *save_invstd;
  double2* affine;

  __device__ void operator()(int64_t c, double, double) const {
    const double mean = static_cast<double>(running_mean[c]);
    const double invstd = 1.0 / sqrt(static_cast<double>(running_var[c]) + eps);
    save_mean[c] = static_cast<T>(mean);
    save_invstd[c] = static_cast<T>(invstd);
    const double scale = (gamma ? static_cast<double>(gamma[c]) : 1.0) * invstd;
    const double shift = (beta ? static_cast<double>(beta[c]) : 0.0) - mean * scale;
    affine[c] = make_double2(scale, shift);
  }
};

// dx = dy_scale * dy + constant + dev_scale * (x - mean), per channel.
struct DxCoef {
  double dy_scale, constant, dev_scale, mean;
};

// Backward: (s1, s2) = (sum dy, sum dy * (x - mean)) around the saved mean, so
// sum(dy * xhat) = invstd * s2. The CPU's training formula
//   dx = k * (M * dy - sum_dy - xhat * sum_dy_xhat),   k = gamma * invstd / M
// is regrouped as dx = (k M) dy + (-k sum_dy) + (-k invstd sum_dy_xhat) (x - mean);
// in evaluation dx = gamma * invstd * dy.
template <typename T>
struct FinishBackward {
  const T *gamma, *save_mean, *save_invstd;
  double M;
  bool training;
  T *dgamma, *dbeta;
  DxCoef* coef;  // null when dx is not wanted

  __device__ void operator()(int64_t c, double sum_dy, double sum_dy_dev) const {
    const double invstd = static_cast<double>(save_invstd[c]);
    const double sum_dy_xhat = sum_dy_dev * invstd;
    if (dgamma) dgamma[c] = static_cast<T>(sum_dy_xhat);
    if (dbeta) dbeta[c] = static_cast<T>(sum_dy);
    if (!coef) return;
    const double g = gamma ? static_cast<double>(gamma[c]) : 1.0;
    const double mean = static_cast<double>(save_mean[c]);
    if (training) {
      const double k = g * invstd / M;
      coef[c] = DxCoef{g * invstd, -k * sum_dy, -k * invstd * sum_dy_xhat, mean};
    } else {
      coef[c] = DxCoef{g * invstd, 0.0, 0.0, mean};
    }
  }
};

// ---- step 3: the elementwise passes ----------------------------------------------------------

// y = x * scale[c] + shift[c] over all packs of V values (V divides HW, so a pack has one
// channel: c = (first element / HW) % C, from channel_of). Computed in double like the CPU, then rounded.
template <typename T, typename Index, int V>
__global__ void __launch_bounds__(kThreads)
    apply_affine(const T* __restrict__ x, T* __restrict__ y, Index packs, ChannelOf<Index> channel_of,
                 const double2* __restrict__ affine) {
  const Index stride = static_cast<Index>(gridDim.x) * static_cast<Index>(blockDim.x);
  for (Index p = static_cast<Index>(blockIdx.x) * static_cast<Index>(blockDim.x) + static_cast<Index>(threadIdx.x);
       p < packs; p += stride) {
    const Index first = p * V;
    const double2 a = affine[channel_of(first)];
    const Pack<T, V> xs = load_pack<T, V>(x + first);
    Pack<T, V> ys;
#pragma unroll
    for (int j = 0; j < V; ++j) ys.v[j] = static_cast<T>(static_cast<double>(xs.v[j]) * a.x + a.y);
    store_pack<T, V>(y + first, ys);
  }
}

// dx from DxCoef; kUsesX is false in evaluation mode, where x plays no part (not even read).
template <typename T, typename Index, int V, bool kUsesX>
__global__ void __launch_bounds__(kThreads)
    apply_dx(const T* __restrict__ x, const T* __restrict__ dy, T* __restrict__ dx, Index packs,
             ChannelOf<Index> channel_of, const DxCoef* __restrict__ coef) {
  const Index stride = static_cast<Index>(gridDim.x) * static_cast<Index>(blockDim.x);
  for (Index p = static_cast<Index>(blockIdx.x) * static_cast<Index>(blockDim.x) + static_cast<Index>(threadIdx.x);
       p < packs; p += stride) {
    const Index first = p * V;
    const DxCoef k = coef[channel_of(first)];
    const Pack<T, V> gs = load_pack<T, V>(dy + first);
    Pack<T, V> xs{};
    if constexpr (kUsesX) xs = load_pack<T, V>(x + first);
    Pack<T, V> out;
#pragma unroll
    for (int j = 0; j < V; ++j) {
      double v = k.dy_scale * static_cast<double>(gs.v[j]);
      if constexpr (kUsesX) v += k.constant + k.dev_scale * (static_cast<double>(xs.v[j]) - k.mean);
      out.v[j] = static_cast<T>(v);
    }
    store_pack<T, V>(dx + first, out);
  }
}

// ---- host side ---------------------------------------------------------------------------------

// 32-bit index math is several times cheaper than 64-bit division. It is safe while every
// index, and every index plus one grid stride, stays below 2^31: numel <= 2^30 leaves room.
bool fits_int32(int64_t numel) { return numel <= (int64_t{1} << 30); }


// How many blocks of kKernel the whole GPU holds at once (at least one per SM), asked once.
template <auto kKernel>
int64_t resident_blocks() {
  static const int64_t blocks = [] {
    int per_sm = 0;
    SC_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kKernel, kThreads, 0));
    return static_cast<int64_t>(per_sm < 1 ? 1 : per_sm) * sm_count();
  }();
  return blocks;
}

template <typename Finish>
void launch_for_each_channel(int64_t C, const Finish& finish) {
  if (C == 0) return;
  for_each_channel<<<grid_for(C, kThreads), kThreads, 0, stream()>>>(C, finish);
  check_launch("batch_norm for_each_channel");
}

// Steps 1 and 2: the per-channel sums of x (or of x and dy) around shift_src[c * shift_stride],
// handed to finish(c, s1, s2). Needs N * HW >= 1 and C >= 1. The split into chunks depends only
// on the sizes and the GPU, so the order of every addition is fixed.
template <typename T, typename Index, bool kWithDy, typename Finish>
void reduce_channels(const T* x, const T* dy, const T* shift_src, int64_t shift_stride, int64_t N, int64_t C,
                     int64_t HW, const Finish& finish) {
  const int64_t M = N * HW;
  int64_t outer = 0, outer_stride = 0, channel_stride = 0, inner = 0;
  std::optional<DeviceBuffer> partial;  // sized once the split is known

  // Runs of at least 64 bytes fill whole 32-byte sectors; shorter ones go column-wise.
  if (HW * static_cast<int64_t>(sizeof(T)) >= 64) {
    auto run = [&](auto vec_tag) {
      constexpr int V = decltype(vec_tag)::value;
      constexpr auto kernel = channel_sums_runs<T, Index, V, kWithDy>;
      const int64_t packs_per_channel = M / V;
      // About one full wave of blocks, split evenly over the channels, but at least 4 packs
      // a thread so each block has real work.
      const int64_t wave = resident_blocks<kernel>();
      const int64_t max_chunks = std::max<int64_t>(1, packs_per_channel / (kThreads * 4));
      int64_t chunks = std::min(std::max<int64_t>(1, wave / C), max_chunks);
      const int64_t packs_per_chunk = ceil_div(packs_per_channel, chunks);
      chunks = ceil_div(packs_per_channel, packs_per_chunk);  // no empty chunk
      partial.emplace(static_cast<size_t>(C * chunks) * sizeof(double2));
      kernel<<<static_cast<unsigned>(C * chunks), kThreads, 0, stream()>>>(
          x, dy, shift_src, static_cast<Index>(shift_stride), static_cast<Index>(C), static_cast<Index>(HW),
          static_cast<Index>(packs_per_channel), static_cast<Index>(chunks), static_cast<Index>(packs_per_chunk),
          Divider<Index>(HW / V), partial->as<double2>());
      check_launch("batch_norm channel_sums_runs");
      outer = chunks, outer_stride = 1, channel_stride = chunks, inner = 1;
    };
    constexpr int kV = kVecWidth<T>;
    const bool vectorize = HW % kV == 0 && aligned16(x) && (!kWithDy || aligned16(dy));
    if (vectorize)
      run(std::integral_constant<int, kV>{});
    else
      run(std::integral_constant<int, 1>{});
  } else {
    constexpr auto kernel = channel_sums_interleaved<T, Index, kWithDy>;
    const int64_t F = C * HW;
    const int64_t col_blocks = ceil_div(F, kThreads);
    const int64_t wave = resident_blocks<kernel>();
    int64_t chunks = std::min(std::max<int64_t>(1, wave / col_blocks), N);
    const int64_t rows_per_chunk = ceil_div(N, chunks);
    chunks = ceil_div(N, rows_per_chunk);  // no empty chunk
    partial.emplace(static_cast<size_t>(chunks * F) * sizeof(double2));
    kernel<<<static_cast<unsigned>(col_blocks * chunks), kThreads, 0, stream()>>>(
        x, dy, shift_src, static_cast<Index>(shift_stride), static_cast<Index>(N), static_cast<Index>(F),
        static_cast<Index>(HW), static_cast<Index>(col_blocks), static_cast<Index>(rows_per_chunk),
        partial->as<double2>());
    check_launch("batch_norm channel_sums_interleaved");
    outer = chunks, outer_stride = F, channel_stride = HW, inner = HW;
  }

  const int64_t warps_per_block = kThreads / 32;
  combine_channels<Index, Finish><<<static_cast<unsigned>(ceil_div(C, warps_per_block)), kThreads, 0, stream()>>>(
      partial->as<double2>(), static_cast<Index>(C), static_cast<Index>(outer), static_cast<Index>(outer_stride),
      static_cast<Index>(channel_stride), static_cast<Index>(inner), finish);
  check_launch("batch_norm combine_channels");
  // `partial` goes back to the cache here; kernels run in stream order, so the next user of the
  // block only touches it after combine_channels has read it.
}

// Step 3 of the forward: y = x * affine[c].x + affine[c].y.
template <typename T, typename Index>
void launch_apply_affine(const T* x, T* y, int64_t numel, int64_t C, int64_t HW, const double2* affine) {
  if (numel == 0) return;
  constexpr int kV = kVecWidth<T>;
  if (HW % kV == 0 && aligned16(x) && aligned16(y)) {
    const int64_t packs = numel / kV;
    apply_affine<T, Index, kV><<<grid_for(packs, kThreads), kThreads, 0, stream()>>>(
        x, y, static_cast<Index>(packs), ChannelOf<Index>(C, HW), affine);
  } else {
    apply_affine<T, Index, 1><<<grid_for(numel, kThreads), kThreads, 0, stream()>>>(
        x, y, static_cast<Index>(numel), ChannelOf<Index>(C, HW), affine);
  }
  check_launch("batch_norm apply_affine");
}

template <typename T, typename Index, bool kUsesX>
void launch_apply_dx(const T* x, const T* dy, T* dx, int64_t numel, int64_t C, int64_t HW, const DxCoef* coef) {
  if (numel == 0) return;
  constexpr int kV = kVecWidth<T>;
  if (HW % kV == 0 && aligned16(dy) && aligned16(dx) && (!kUsesX || aligned16(x))) {
    const int64_t packs = numel / kV;
    apply_dx<T, Index, kV, kUsesX><<<grid_for(packs, kThreads), kThreads, 0, stream()>>>(
        x, dy, dx, static_cast<Index>(packs), ChannelOf<Index>(C, HW), coef);
  } else {
    apply_dx<T, Index, 1, kUsesX><<<grid_for(numel, kThreads), kThreads, 0, stream()>>>(
        x, dy, dx, static_cast<Index>(numel), ChannelOf<Index>(C, HW), coef);
  }
  check_launch("batch_norm apply_dx");
}

template <typename T, typename Index>
void forward_train_impl(const T* x, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* beta, double eps,
                        double momentum, T* y, T* save_mean, T* save_invstd, T* running_mean, T* running_var) {
  DeviceBuffer affine(static_cast<size_t>(C) * sizeof(double2));
  const FinishTrainStats<T> finish{x,           HW,           static_cast<double>(N * HW), gamma, beta, eps, momentum,
                                   save_mean,   save_invstd,  running_mean,                running_var,
                                   affine.as<double2>()};
  // The shift of channel c is its first value, x[c * HW].
  reduce_channels<T, Index, false>(x, nullptr, x, HW, N, C, HW, finish);
  launch_apply_affine<T, Index>(x, y, N * C * HW, C, HW, affine.as<double2>());
}

template <typename T, typename Index>
void backward_impl(const T* x, const T* dy, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* save_mean,
                   const T* save_invstd, bool training, T* dx, T* dgamma, T* dbeta) {
  DeviceBuffer coef(dx ? static_cast<size_t>(C) * sizeof(DxCoef) : 0);
  const FinishBackward<T> finish{gamma,  save_mean, save_invstd, static_cast<double>(N * HW), training,
                                 dgamma, dbeta,     dx ? coef.as<DxCoef>() : nullptr};
  // Training dx needs sum(dy) and sum(dy * xhat); evaluation dx needs neither.
  const bool need_sums = dgamma || dbeta || training;
  if (need_sums) {
    reduce_channels<T, Index, true>(x, dy, save_mean, 1, N, C, HW, finish);  // shift = the saved mean
  } else {
    launch_for_each_channel(C, finish);
  }
  if (!dx) return;
  if (training)
    launch_apply_dx<T, Index, true>(x, dy, dx, N * C * HW, C, HW, coef.as<DxCoef>());
  else
    launch_apply_dx<T, Index, false>(x, dy, dx, N * C * HW, C, HW, coef.as<DxCoef>());
}

}  // namespace

// ---- the hand-written path ----------------------------------------------------------------------

namespace bn_path {

template <typename T>
void handwritten_forward_train(const T* x, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* beta, double eps,
                               double momentum, T* y, T* save_mean, T* save_invstd, T* running_mean, T* running_var) {
  SC_CHECK(N >= 0 && C >= 0 && HW >= 0, "batch_norm_forward_train (CUDA): negative size [", N, ", ", C, ", ", HW, "]");
  if (C == 0) return;
  SC_CHECK(N * HW >= 1, "batch_norm_forward_train (CUDA): training needs values in every channel, got N = ", N,
           ", HW = ", HW);
  if (fits_int32(N * C * HW))
    forward_train_impl<T, int32_t>(x, N, C, HW, gamma, beta, eps, momentum, y, save_mean, save_invstd, running_mean,
                                   running_var);
  else
    forward_train_impl<T, int64_t>(x, N, C, HW, gamma, beta, eps, momentum, y, save_mean, save_invstd, running_mean,
                                   running_var);
}

template <typename T>
void handwritten_forward_eval(const T* x, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* beta,
                              const T* running_mean, const T* running_var, double eps, T* y, T* save_mean,
                              T* save_invstd) {
  SC_CHECK(N >= 0 && C >= 0 && HW >= 0, "batch_norm_forward_eval (CUDA): negative size [", N, ", ", C, ", ", HW, "]");
  if (C == 0) return;
  DeviceBuffer affine(static_cast<size_t>(C) * sizeof(double2));
  // The saved statistics are written even for an empty batch: the backward reads them.
  launch_for_each_channel(C, FinishEvalStats<T>{gamma, beta, running_mean, running_var, eps, save_mean, save_invstd,
                                                affine.as<double2>()});
  const int64_t numel = N * C * HW;
  if (fits_int32(numel))
    launch_apply_affine<T, int32_t>(x, y, numel, C, HW, affine.as<double2>());
  else
    launch_apply_affine<T, int64_t>(x, y, numel, C, HW, affine.as<double2>());
}

template <typename T>
void handwritten_backward(const T* x, const T* dy, int64_t N, int64_t C, int64_t HW, const T* gamma,
                          const T* save_mean, const T* save_invstd, bool training, T* dx, T* dgamma, T* dbeta) {
  SC_CHECK(N >= 0 && C >= 0 && HW >= 0, "batch_norm_backward (CUDA): negative size [", N, ", ", C, ", ", HW, "]");
  if (C == 0 || (!dx && !dgamma && !dbeta)) return;
  if (N * HW == 0) {
    // No values: dx is empty and the parameter gradients are sums over nothing (+0.0 is all-zero bytes).
    if (dgamma) SC_CUDA_CHECK(cudaMemsetAsync(dgamma, 0, static_cast<size_t>(C) * sizeof(T), stream()));
    if (dbeta) SC_CUDA_CHECK(cudaMemsetAsync(dbeta, 0, static_cast<size_t>(C) * sizeof(T), stream()));
    return;
  }
  if (fits_int32(N * C * HW))
    backward_impl<T, int32_t>(x, dy, N, C, HW, gamma, save_mean, save_invstd, training, dx, dgamma, dbeta);
  else
    backward_impl<T, int64_t>(x, dy, N, C, HW, gamma, save_mean, save_invstd, training, dx, dgamma, dbeta);
}

}  // namespace bn_path

// ---- the public kernels: pick the path ---------------------------------------------------------

template <typename T>
void batch_norm_forward_train(const T* x, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* beta, double eps,
                              double momentum, T* y, T* save_mean, T* save_invstd, T* running_mean, T* running_var) {
  if (kernel_path() == KernelPath::Vendor)
    bn_path::cudnn_forward_train(x, N, C, HW, gamma, beta, eps, momentum, y, save_mean, save_invstd, running_mean,
                                 running_var);
  else
    bn_path::handwritten_forward_train(x, N, C, HW, gamma, beta, eps, momentum, y, save_mean, save_invstd,
                                       running_mean, running_var);
}

template <typename T>
void batch_norm_forward_eval(const T* x, int64_t N, int64_t C, int64_t HW, const T* gamma, const T* beta,
                             const T* running_mean, const T* running_var, double eps, T* y, T* save_mean,
                             T* save_invstd) {
  if (kernel_path() == KernelPath::Vendor)
    bn_path::cudnn_forward_eval(x, N, C, HW, gamma, beta, running_mean, running_var, eps, y, save_mean, save_invstd);
  else
    bn_path::handwritten_forward_eval(x, N, C, HW, gamma, beta, running_mean, running_var, eps, y, save_mean,
                                      save_invstd);
}

template <typename T>
void batch_norm_backward(const T* x, const T* dy, int64_t N, int64_t C, int64_t HW, const T* gamma,
                         const T* save_mean, const T* save_invstd, bool training, T* dx, T* dgamma, T* dbeta) {
  // cuDNN only has the training-mode backward.
  if (kernel_path() == KernelPath::Vendor && training)
    bn_path::cudnn_backward(x, dy, N, C, HW, gamma, save_mean, save_invstd, training, dx, dgamma, dbeta);
  else
    bn_path::handwritten_backward(x, dy, N, C, HW, gamma, save_mean, save_invstd, training, dx, dgamma, dbeta);
}

#define SC_INSTANTIATE_BATCH_NORM(T)                                                                                  \
  template void batch_norm_forward_train<T>(const T*, int64_t, int64_t, int64_t, const T*, const T*, double, double, \
                                            T*, T*, T*, T*, T*);                                                      \
  template void batch_norm_forward_eval<T>(const T*, int64_t, int64_t, int64_t, const T*, const T*, const T*,         \
                                           const T*, double, T*, T*, T*);                                             \
  template void batch_norm_backward<T>(const T*, const T*, int64_t, int64_t, int64_t, const T*, const T*, const T*,   \
                                       bool, T*, T*, T*);                                                             \
  template void bn_path::handwritten_forward_train<T>(const T*, int64_t, int64_t, int64_t, const T*, const T*,       \
                                                      double, double, T*, T*, T*, T*, T*);                            \
  template void bn_path::handwritten_forward_eval<T>(const T*, int64_t, int64_t, int64_t, const T*, const T*,        \
                                                     const T*, const T*, double, T*, T*, T*);                         \
  template void bn_path::handwritten_backward<T>(const T*, const T*, int64_t, int64_t, int64_t, const T*, const T*,  \
                                                 const T*, bool, T*, T*, T*);
SC_INSTANTIATE_BATCH_NORM(float)
SC_INSTANTIATE_BATCH_NORM(double)
#undef SC_INSTANTIATE_BATCH_NORM

}  // namespace sc::kernels::cuda
