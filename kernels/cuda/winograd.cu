// Winograd F(2x2, 3x3) forward on the GPU (kernels/winograd.h explains the method;
// kernels/cpu/winograd.cpp is the reference, stage for stage).
//
//   1. filter_transform   one thread per (o, c): 9 weights in, 16 values of U out
//   2. input_transform    one thread per (c, tile): a 4 x 4 patch in, 16 values of V out
//   3. gemm_batched       16 products M_xi = U_xi V_xi, [O, C] x [C, T]: the GEMM ladder
//   4. output_transform   one thread per (o, tile): 16 values of M in, a 2 x 2 output tile out
//
// The input gradient runs the same four stages on dy, with the weights turned around first
// (turn_weights; kernels/winograd.h says why that is the input gradient). The weight gradient
// (F(3x3, 2x2)) transforms 2 x 2 tiles of dy and 4 x 4 patches of x, sums their products over
// the tiles in chunks (one batched GEMM per position, the chunks added in order) and turns each
// 4 x 4 sum back into a 3 x 3 window.
//
// What this first version leaves out: the three stages are separate passes through memory
// (V and M are 16 C T and 16 O T floats: 103 MB and 205 MB at batch 512, 14 x 14, 64 -> 128);
// a fused kernel would transform inside the GEMM's tile loads and epilogue. The napkin math for
// that shape: 6.6 GFLOP of GEMM instead of 14.8 direct, plus ~0.6 GB of traffic.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "kernels/cuda/common.cuh"
#include "kernels/gemm.h"
#include "kernels/winograd.h"

namespace sc::kernels::cuda {

namespace {

constexpr int kThreads = 256;

__global__ void filter_transform(const float* weight, int64_t O, int64_t C, float* U) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < O * C; i += step) {
    float u[16];
    winograd::filter_tile(weight + i * 9, u);  // i = o * C + c
    for (int xi = 0; xi < 16; ++xi) U[xi * O * C + i] = u[xi];
  }
}

// One thread per (c, tile): its 4 x 4 patch of x, transformed for the forward (B^T d B) or, with
// kForWeights, for the weight gradient (B3^T d B3). Consecutive threads take consecutive tiles
// of one channel, so the 16 writes (each to its own xi plane, T apart) are coalesced.
template <bool kForWeights>
__global__ void input_transform(const float* x, Conv2dShape s, WinogradTiles tiles, float* V) {
  const int64_t T = tiles.count, per_image = tiles.h * tiles.w;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < s.C * T; i += step) {
    const int64_t c = i / T, t = i % T;
    const int64_t n = t / per_image, th = (t % per_image) / tiles.w, tw = t % tiles.w;
    float d[16], v[16];
    winograd::load_patch(x + (n * s.C + c) * s.H * s.W, s.H, s.W, 2 * th - s.pad_h, 2 * tw - s.pad_w, d);
    if (kForWeights)
      winograd::weight_input_tile(d, v);
    else
      winograd::input_tile(d, v);
    for (int xi = 0; xi < 16; ++xi) V[(xi * s.C + c) * T + t] = v[xi];
  }
}

__global__ void output_transform(const float* M, const float* bias, Conv2dShape s, WinogradTiles tiles, float* y) {
  const int64_t T = tiles.count, per_image = tiles.h * tiles.w;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < s.O * T; i += step) {
    const int64_t o = i / T, t = i % T;
    const int64_t n = t / per_image, th = (t % per_image) / tiles.w, tw = t % tiles.w;
    float m[16], out[4];
    for (int xi = 0; xi < 16; ++xi) m[xi] = M[(xi * s.O + o) * T + t];
    winograd::output_tile(m, out);
    const float b = bias ? bias[o] : 0.0f;
    float* plane = y + (n * s.O + o) * s.OH * s.OW;
    for (int r = 0; r < 2; ++r)
      for (int q = 0; q < 2; ++q) {
        const int64_t oh = 2 * th + r, ow = 2 * tw + q;
        if (oh < s.OH && ow < s.OW) plane[oh * s.OW + ow] = out[2 * r + q] + b;
      }
  }
}

// The weight gradient's transform of dy (F(3x3, 2x2), kernels/winograd.h): its 2 x 2 tiles, one
// thread per (o, tile). (Its patches of x go through input_transform<true>.)
__global__ void gradient_transform(const float* grad_y, Conv2dShape s, WinogradTiles tiles, float* U) {
  const int64_t T = tiles.count, per_image = tiles.h * tiles.w;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < s.O * T; i += step) {
    const int64_t o = i / T, t = i % T;
    const int64_t n = t / per_image, th = (t % per_image) / tiles.w, tw = t % tiles.w;
    const float* plane = grad_y + (n * s.O + o) * s.OH * s.OW;
    float g[4], u[16];
    for (int r = 0; r < 2; ++r)
      for (int q = 0; q < 2; ++q) {
        const int64_t oh = 2 * th + r, ow = 2 * tw + q;
        g[2 * r + q] = oh < s.OH && ow < s.OW ? plane[oh * s.OW + ow] : 0.0f;
      }
    winograd::gradient_tile(g, u);
    for (int xi = 0; xi < 16; ++xi) U[(xi * s.O + o) * T + t] = u[xi];
  }
}

// M [16][O][C] = the sum of the chunks' partial products [16][chunks][O][C], in chunk order,
// then each 4 x 4 sum back to a 3 x 3 window: one thread per (o, c).
__global__ void weight_output_transform(const float* partial, int64_t chunks, int64_t O, int64_t C, float* grad_weight) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < O * C; i += step) {
    float m[16], w[9];
    for (int xi = 0; xi < 16; ++xi) {
      float sum = 0.0f;
      for (int64_t k = 0; k < chunks; ++k) sum += partial[((xi * chunks + k) * O * C) + i];
      m[xi] = sum;
    }
    winograd::weight_output_tile(m, w);
    for (int k = 0; k < 9; ++k) grad_weight[i * 9 + k] = w[k];
  }
}

// w'[c][o] = w[o][c] turned by 180 degrees: one thread per (o, c) window.
__global__ void turn_weights(const float* weight, int64_t O, int64_t C, float* turned) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < O * C; i += step) {
    const int64_t o = i / C, c = i % C;
    winograd::turn_window(weight + i * 9, turned + (c * O + o) * 9);
  }
}

ConvAlgo& algo_slot() {
  static ConvAlgo algo = [] {
    const char* v = std::getenv("SC_CUDA_CONV");
    if (!v || !*v || std::string(v) == "implicit") return ConvAlgo::ImplicitGemm;
    SC_CHECK(std::string(v) == "winograd", "SC_CUDA_CONV must be implicit or winograd, got '", v, "'");
    return ConvAlgo::Winograd;
  }();
  return algo;
}

}  // namespace

ConvAlgo conv_algo() { return algo_slot(); }
void set_conv_algo(ConvAlgo algo) { algo_slot() = algo; }

void winograd_conv2d_forward(const float* x, const float* weight, const float* bias, float* y, const Conv2dShape& s) {
  SC_CHECK(winograd_applies(s), "winograd_conv2d_forward: needs a 3x3 kernel, stride 1 and dilation 1");
  const WinogradTiles tiles = winograd_tiles(s);
  const int64_t O = s.O, C = s.C, T = tiles.count;
  if (T == 0 || O == 0) return;  // y is empty
  // With C == 0 the sum is empty: the GEMM (K = 0) writes M = 0 and y comes out as the bias.
  DeviceBuffer U(static_cast<size_t>(16 * O * C) * sizeof(float));
  DeviceBuffer V(static_cast<size_t>(16 * C * T) * sizeof(float));
  DeviceBuffer M(static_cast<size_t>(16 * O * T) * sizeof(float));
  if (O * C > 0) {
    filter_transform<<<grid_for(O * C, kThreads), kThreads, 0, stream()>>>(weight, O, C, U.as<float>());
    check_launch("winograd filter_transform");
  }
  if (C * T > 0) {
    input_transform<false><<<grid_for(C * T, kThreads), kThreads, 0, stream()>>>(x, s, tiles, V.as<float>());
    check_launch("winograd input_transform");
  }
  gemm_batched<float>(false, false, 16, O, T, C, 1.0f, U.as<float>(), C, O * C, V.as<float>(), T, C * T, 0.0f,
                      M.as<float>(), T, O * T);
  output_transform<<<grid_for(O * T, kThreads), kThreads, 0, stream()>>>(M.as<float>(), bias, s, tiles, y);
  check_launch("winograd output_transform");
}

void winograd_conv2d_backward_input(const float* grad_y, const float* weight, float* grad_x, const Conv2dShape& s) {
  SC_CHECK(winograd_applies_to_input_gradient(s),
           "winograd_conv2d_backward_input: needs a 3x3 kernel, stride 1, dilation 1 and padding at most 2");
  if (s.N * s.C * s.H * s.W == 0) return;  // grad_x is empty
  DeviceBuffer turned(static_cast<size_t>(s.O * s.C * 9) * sizeof(float));
  if (s.O * s.C > 0) {
    turn_weights<<<grid_for(s.O * s.C, kThreads), kThreads, 0, stream()>>>(weight, s.O, s.C, turned.as<float>());
    check_launch("winograd turn_weights");
  }
  winograd_conv2d_forward(grad_y, turned.as<float>(), nullptr, grad_x, winograd_input_gradient_shape(s));
}

void winograd_conv2d_backward_weight(const float* grad_y, const float* x, float* grad_weight, const Conv2dShape& s) {
  SC_CHECK(winograd_applies(s), "winograd_conv2d_backward_weight: needs a 3x3 kernel, stride 1 and dilation 1");
  const WinogradTiles tiles = winograd_tiles(s);
  const int64_t O = s.O, C = s.C, T = tiles.count;
  if (O * C == 0) return;  // grad_weight is empty
  // The sum over T tiles is long (100,352 at batch 512, 28 x 28) and the products are small
  // (O x C), so it is split into chunks of at least 512 tiles, at most 64 of them: each chunk is
  // one GEMM of a batch, and the chunks are added in order. A function of the shape only.
  const int64_t chunks = T == 0 ? 1 : std::max<int64_t>(1, std::min<int64_t>(64, T / 512));
  const int64_t chunk = T == 0 ? 0 : ceil_div(T, chunks);
  DeviceBuffer U(static_cast<size_t>(16 * O * std::max<int64_t>(T, 1)) * sizeof(float));
  DeviceBuffer V(static_cast<size_t>(16 * C * std::max<int64_t>(T, 1)) * sizeof(float));
  DeviceBuffer partial(static_cast<size_t>(16 * chunks * O * C) * sizeof(float));
  if (O * T > 0) {
    gradient_transform<<<grid_for(O * T, kThreads), kThreads, 0, stream()>>>(grad_y, s, tiles, U.as<float>());
    check_launch("winograd gradient_transform");
  }
  if (C * T > 0) {
    input_transform<true><<<grid_for(C * T, kThreads), kThreads, 0, stream()>>>(x, s, tiles, V.as<float>());
    check_launch("winograd input_transform (weights)");
  }
  for (int64_t xi = 0; xi < 16; ++xi) {
    // Chunk k of position xi: U_xi[:, k*chunk ..] * V_xi[:, k*chunk ..]^T. The last chunk may be
    // shorter: the full chunks run as one batch, the last one on its own.
    const float* u = U.as<float>() + xi * O * T;
    const float* v = V.as<float>() + xi * C * T;
    float* out = partial.as<float>() + xi * chunks * O * C;
    const int64_t full = chunk == 0 ? 0 : T / chunk, rest = T - full * chunk;
    if (full > 0)
      gemm_batched<float>(false, true, full, O, C, chunk, 1.0f, u, T, chunk, v, T, chunk, 0.0f, out, C, O * C);
    // chunk >= 512 >= chunks, so at most one chunk is short; with T == 0 the one chunk is an
    // empty sum (K = 0), which the GEMM writes as zeros.
    SC_CHECK(chunks - full <= 1, "winograd_conv2d_backward_weight: ", chunks - full, " short chunks (expected at most 1)");
    if (full < chunks)
      gemm_batched<float>(false, true, 1, O, C, rest, 1.0f, u + full * chunk, T, 0, v + full * chunk, T, 0, 0.0f,
                          out + full * O * C, C, 0);
  }
  weight_output_transform<<<grid_for(O * C, kThreads), kThreads, 0, stream()>>>(partial.as<float>(), chunks, O, C,
                                                                                grad_weight);
  check_launch("winograd weight_output_transform");
}

}  // namespace sc::kernels::cuda
