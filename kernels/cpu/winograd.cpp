// The CPU reference of the Winograd F(2x2, 3x3) forward (kernels/winograd.h): the four stages
// with plain loops, in the order the CUDA version runs them, so a reader can follow one tile
// through. Not used for training on the CPU (the shifted-row convolution of conv2d.cpp is
// faster there); it checks the transforms the GPU kernels share.
#include <algorithm>
#include <vector>

#include "base/error.h"
#include "kernels/gemm.h"
#include "kernels/winograd.h"

namespace sc::kernels::cpu {

void winograd_conv2d_forward(const float* x, const float* weight, const float* bias, float* y, const Conv2dShape& s) {
  SC_CHECK(winograd_applies(s), "winograd_conv2d_forward: needs a 3x3 kernel, stride 1 and dilation 1");
  const WinogradTiles tiles = winograd_tiles(s);
  const int64_t O = s.O, C = s.C, T = tiles.count;
  std::vector<float> U(static_cast<size_t>(16 * O * C)), V(static_cast<size_t>(16 * C * T)), M(static_cast<size_t>(16 * O * T));

  // 1. Filters: U[xi][o][c].
  for (int64_t o = 0; o < O; ++o)
    for (int64_t c = 0; c < C; ++c) {
      float u[16];
      winograd::filter_tile(weight + (o * C + c) * 9, u);
      for (int xi = 0; xi < 16; ++xi) U[(xi * O + o) * C + c] = u[xi];
    }

  // 2. Input patches: V[xi][c][t], zeros outside the image.
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t th = 0; th < tiles.h; ++th)
        for (int64_t tw = 0; tw < tiles.w; ++tw) {
          float d[16], v[16];
          winograd::load_patch(x + (n * C + c) * s.H * s.W, s.H, s.W, 2 * th - s.pad_h, 2 * tw - s.pad_w, d);
          winograd::input_tile(d, v);
          const int64_t t = (n * tiles.h + th) * tiles.w + tw;
          for (int xi = 0; xi < 16; ++xi) V[(xi * C + c) * T + t] = v[xi];
        }

  // 3. The 16 products M_xi [O, T] = U_xi [O, C] * V_xi [C, T].
  gemm_batched<float>(false, false, 16, O, T, C, 1.0f, U.data(), C, O * C, V.data(), T, C * T, 0.0f, M.data(), T, O * T);

  // 4. Output tiles, clipped at the bottom and right edges, plus the bias.
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t th = 0; th < tiles.h; ++th)
        for (int64_t tw = 0; tw < tiles.w; ++tw) {
          const int64_t t = (n * tiles.h + th) * tiles.w + tw;
          float m[16], out[4];
          for (int xi = 0; xi < 16; ++xi) m[xi] = M[(xi * O + o) * T + t];
          winograd::output_tile(m, out);
          const float b = bias ? bias[o] : 0.0f;
          for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 2; ++j) {
              const int64_t oh = 2 * th + i, ow = 2 * tw + j;
              if (oh < s.OH && ow < s.OW) y[((n * O + o) * s.OH + oh) * s.OW + ow] = out[2 * i + j] + b;
            }
        }
}

void winograd_conv2d_backward_input(const float* grad_y, const float* weight, float* grad_x, const Conv2dShape& s) {
  SC_CHECK(winograd_applies_to_input_gradient(s),
           "winograd_conv2d_backward_input: needs a 3x3 kernel, stride 1, dilation 1 and padding at most 2");
  // The turned weights w' [C, O, 3, 3], then the forward of dy with them.
  std::vector<float> turned(static_cast<size_t>(s.C * s.O * 9));
  for (int64_t o = 0; o < s.O; ++o)
    for (int64_t c = 0; c < s.C; ++c) winograd::turn_window(weight + (o * s.C + c) * 9, turned.data() + (c * s.O + o) * 9);
  winograd_conv2d_forward(grad_y, turned.data(), nullptr, grad_x, winograd_input_gradient_shape(s));
}

void winograd_conv2d_backward_weight(const float* grad_y, const float* x, float* grad_weight, const Conv2dShape& s) {
  SC_CHECK(winograd_applies(s), "winograd_conv2d_backward_weight: needs a 3x3 kernel, stride 1 and dilation 1");
  const WinogradTiles tiles = winograd_tiles(s);
  const int64_t O = s.O, C = s.C, T = tiles.count;
  std::vector<float> U(static_cast<size_t>(16 * O * T)), V(static_cast<size_t>(16 * C * T)), M(static_cast<size_t>(16 * O * C));

  // 1. Tiles of dy: U[xi][o][t], zeros past the bottom and right edges.
  // 2. Patches of x: V[xi][c][t], zeros outside the image (as the forward's).
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t th = 0; th < tiles.h; ++th)
      for (int64_t tw = 0; tw < tiles.w; ++tw) {
        const int64_t t = (n * tiles.h + th) * tiles.w + tw;
        for (int64_t o = 0; o < O; ++o) {
          float g[4], u[16];
          for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 2; ++j) {
              const int64_t oh = 2 * th + i, ow = 2 * tw + j;
              g[2 * i + j] = oh < s.OH && ow < s.OW ? grad_y[((n * O + o) * s.OH + oh) * s.OW + ow] : 0.0f;
            }
          winograd::gradient_tile(g, u);
          for (int xi = 0; xi < 16; ++xi) U[(xi * O + o) * T + t] = u[xi];
        }
        for (int64_t c = 0; c < C; ++c) {
          float d[16], v[16];
          winograd::load_patch(x + (n * C + c) * s.H * s.W, s.H, s.W, 2 * th - s.pad_h, 2 * tw - s.pad_w, d);
          winograd::weight_input_tile(d, v);
          for (int xi = 0; xi < 16; ++xi) V[(xi * C + c) * T + t] = v[xi];
        }
      }

  // 3. The sums over tiles: M_xi [O, C] = U_xi [O, T] * V_xi^T [T, C].
  gemm_batched<float>(false, true, 16, O, C, T, 1.0f, U.data(), T, O * T, V.data(), T, C * T, 0.0f, M.data(), C, O * C);

  // 4. Each 4 x 4 sum back to a 3 x 3 window.
  for (int64_t o = 0; o < O; ++o)
    for (int64_t c = 0; c < C; ++c) {
      float m[16];
      for (int xi = 0; xi < 16; ++xi) m[xi] = M[(xi * O + o) * C + c];
      winograd::weight_output_tile(m, grad_weight + (o * C + c) * 9);
    }
}

}  // namespace sc::kernels::cpu
