// Winograd F(2x2, 3x3) forward on the GPU (kernels/winograd.h explains the method;
// kernels/cpu/winograd.cpp is the reference, stage for stage).
//
//   1. filter_transform   one thread per (o, c): 9 weights in, 16 values of U out
//   2. input_transform    one thread per (c, tile): a 4 x 4 patch in, 16 values of V out;
//                         neighbouring threads take neighbouring tiles, so the 16 writes (each
//                         to its own xi plane, T apart) are coalesced
//   3. gemm_batched       16 products M_xi = U_xi V_xi, [O, C] x [C, T]: the GEMM ladder
//   4. output_transform   one thread per (o, tile): 16 values of M in, a 2 x 2 output tile out
//
// The input gradient runs the same four stages on dy, with the weights turned around first
// (turn_weights; kernels/winograd.h says why that is the input gradient).
//
// What this first version leaves out: the three stages are separate passes through memory
// (V and M are 16 C T and 16 O T floats: 103 MB and 205 MB at batch 512, 14 x 14, 64 -> 128);
// a fused kernel would transform inside the GEMM's tile loads and epilogue. The napkin math for
// that shape: 6.6 GFLOP of GEMM instead of 14.8 direct, plus ~0.6 GB of traffic.
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

__global__ void input_transform(const float* x, Conv2dShape s, WinogradTiles tiles, float* V) {
  const int64_t T = tiles.count, per_image = tiles.h * tiles.w;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < s.C * T; i += step) {
    const int64_t c = i / T, t = i % T;  // consecutive threads: consecutive tiles of one channel
    const int64_t n = t / per_image, th = (t % per_image) / tiles.w, tw = t % tiles.w;
    const float* plane = x + (n * s.C + c) * s.H * s.W;
    float d[16], v[16];
    for (int r = 0; r < 4; ++r)
      for (int q = 0; q < 4; ++q) {
        const int64_t ih = 2 * th - s.pad_h + r, iw = 2 * tw - s.pad_w + q;
        d[4 * r + q] = ih >= 0 && ih < s.H && iw >= 0 && iw < s.W ? plane[ih * s.W + iw] : 0.0f;
      }
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
    input_transform<<<grid_for(C * T, kThreads), kThreads, 0, stream()>>>(x, s, tiles, V.as<float>());
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

}  // namespace sc::kernels::cuda
