#pragma once
// Winograd convolution F(2x2, 3x3) (Lavin and Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2015) for 3x3 kernels with stride 1 and dilation 1, any padding.
//
// The output is cut into 2 x 2 tiles. Each tile needs a 4 x 4 patch d of the input; with the
// 3 x 3 filter g, the tile is
//   Y = A^T [ (G g G^T) (.) (B^T d B) ] A        ((.) is the elementwise product)
// so 16 multiplications make 4 outputs, where the direct sum needs 36: 2.25x fewer. Over a whole
// layer the products for one of the 16 positions xi = (i, j) of the 4 x 4 transformed tile form
// a matrix product over the input channels:
//   U [16][O][C]   the transformed filters,  U_xi[o][c] = (G g_oc G^T)[xi]
//   V [16][C][T]   the transformed patches,  V_xi[c][t] = (B^T d_ct B)[xi]   (T tiles in all)
//   M [16][O][T] = U_xi * V_xi, 16 GEMMs (batched)
//   y tile (n, th, tw) of channel o = A^T M_[o][t] A  (+ bias)
// The transforms below are the only new arithmetic; the 16 GEMMs are the library's GEMM.
//
// The matrices (exact in binary: only 0, +-1 and +-1/2):
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
//   A^T = [1 1 1 0; 0 1 -1 -1]
// The transforms add up to 4 terms each, so float32 results differ from the direct sum by a
// few roundings more (tests/test_conv_pool.cpp and tests/test_cuda_conv.cpp state the bound).
//
// Tile t = (n * tiles_h + th) * tiles_w + tw covers output rows 2 th, 2 th + 1 and columns
// 2 tw, 2 tw + 1 (tiles_h = ceil(OH / 2)); its patch starts at input row 2 th - pad_h and
// column 2 tw - pad_w, reading zeros outside the image.
#include <cstdint>

#include "kernels/conv2d.h"
#include "kernels/host_device.h"

namespace sc::kernels {

// Whether a convolution is one F(2x2, 3x3) computes: a 3 x 3 kernel, stride 1, dilation 1.
inline bool winograd_applies(const Conv2dShape& s) {
  return s.KH == 3 && s.KW == 3 && s.stride_h == 1 && s.stride_w == 1 && s.dilation_h == 1 && s.dilation_w == 1 &&
         s.OH > 0 && s.OW > 0;
}

// The input gradient of such a convolution is itself one: dx = conv(dy, w'), with w' the
// weights turned around (w'[c][o][kh][kw] = w[o][c][2 - kh][2 - kw]: in and out channels
// swapped, the 3 x 3 window rotated by 180 degrees) and padding 2 - pad, so it needs pad <= 2.
// The shape of that convolution: dy [N, O, OH, OW] in, dx [N, C, H, W] out.
inline bool winograd_applies_to_input_gradient(const Conv2dShape& s) {
  return winograd_applies(s) && s.pad_h <= 2 && s.pad_w <= 2 && s.H > 0 && s.W > 0;
}
inline Conv2dShape winograd_input_gradient_shape(const Conv2dShape& s) {
  Conv2dShape g = s;
  g.C = s.O, g.H = s.OH, g.W = s.OW;
  g.O = s.C, g.OH = s.H, g.OW = s.W;
  g.pad_h = 2 - s.pad_h, g.pad_w = 2 - s.pad_w;
  return g;
}

struct WinogradTiles {
  int64_t h = 0, w = 0;  // tiles per image: ceil(OH / 2), ceil(OW / 2)
  int64_t count = 0;     // T = N * h * w
};
inline WinogradTiles winograd_tiles(const Conv2dShape& s) {
  WinogradTiles t;
  t.h = (s.OH + 1) / 2, t.w = (s.OW + 1) / 2;
  t.count = s.N * t.h * t.w;
  return t;
}

namespace winograd {

// The 4 x 4 patch of one H x W plane whose top-left corner is (top, left), zeros outside the
// plane: what an input transform reads (top = 2 th - pad_h, left = 2 tw - pad_w).
SC_HOST_DEVICE inline void load_patch(const float* plane, int64_t H, int64_t W, int64_t top, int64_t left, float* d) {
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      const int64_t ih = top + i, iw = left + j;
      d[4 * i + j] = ih >= 0 && ih < H && iw >= 0 && iw < W ? plane[ih * W + iw] : 0.0f;
    }
}

// U = G g G^T for one 3 x 3 filter g (row-major), into u[16] (row-major 4 x 4).
SC_HOST_DEVICE inline void filter_tile(const float* g, float* u) {
  float t[4][3];  // G g
  for (int j = 0; j < 3; ++j) {
    t[0][j] = g[j];
    t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
    t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
    t[3][j] = g[6 + j];
  }
  for (int i = 0; i < 4; ++i) {  // (G g) G^T
    u[4 * i + 0] = t[i][0];
    u[4 * i + 1] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
    u[4 * i + 2] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
    u[4 * i + 3] = t[i][2];
  }
}

// V = B^T d B for one 4 x 4 patch d (row-major), into v[16].
SC_HOST_DEVICE inline void input_tile(const float* d, float* v) {
  float t[4][4];  // B^T d
  for (int j = 0; j < 4; ++j) {
    t[0][j] = d[j] - d[8 + j];
    t[1][j] = d[4 + j] + d[8 + j];
    t[2][j] = d[8 + j] - d[4 + j];
    t[3][j] = d[4 + j] - d[12 + j];
  }
  for (int i = 0; i < 4; ++i) {  // (B^T d) B
    v[4 * i + 0] = t[i][0] - t[i][2];
    v[4 * i + 1] = t[i][1] + t[i][2];
    v[4 * i + 2] = t[i][2] - t[i][1];
    v[4 * i + 3] = t[i][1] - t[i][3];
  }
}

// w'[c][o] = w[o][c] rotated by 180 degrees, for one 3 x 3 window: turned[8 - k] = w[k].
SC_HOST_DEVICE inline void turn_window(const float* w, float* turned) {
  for (int k = 0; k < 9; ++k) turned[8 - k] = w[k];
}

// The weight gradient, F(3x3, 2x2): dw[o][c] (3 x 3) sums, over images and 2 x 2 tiles of dy,
// the correlation of the tile's 4 x 4 patch of x with the tile of dy:
//   dw_oc = A3^T [ sum_t (G2 dy_ot G2^T) (.) (B3^T x_ct B3) ] A3
//   B3^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 -1 0 1]
//   G2   = [1 0; 1/2 1/2; 1/2 -1/2; 0 1]
//   A3^T = [1 1 1 0; 0 1 -1 0; 0 1 1 1]
// The sum over tiles is a matrix product over t for each of the 16 positions (kernels/cpu and
// kernels/cuda winograd_conv2d_backward_weight).

// G2 g G2^T for one 2 x 2 tile g of dy (row-major), into u[16].
SC_HOST_DEVICE inline void gradient_tile(const float* g, float* u) {
  float t[4][2];  // G2 g
  for (int j = 0; j < 2; ++j) {
    t[0][j] = g[j];
    t[1][j] = 0.5f * (g[j] + g[2 + j]);
    t[2][j] = 0.5f * (g[j] - g[2 + j]);
    t[3][j] = g[2 + j];
  }
  for (int i = 0; i < 4; ++i) {  // (G2 g) G2^T
    u[4 * i + 0] = t[i][0];
    u[4 * i + 1] = 0.5f * (t[i][0] + t[i][1]);
    u[4 * i + 2] = 0.5f * (t[i][0] - t[i][1]);
    u[4 * i + 3] = t[i][1];
  }
}

// B3^T d B3 for one 4 x 4 patch d of x, into v[16].
SC_HOST_DEVICE inline void weight_input_tile(const float* d, float* v) {
  float t[4][4];  // B3^T d
  for (int j = 0; j < 4; ++j) {
    t[0][j] = d[j] - d[8 + j];
    t[1][j] = d[4 + j] + d[8 + j];
    t[2][j] = d[8 + j] - d[4 + j];
    t[3][j] = d[12 + j] - d[4 + j];
  }
  for (int i = 0; i < 4; ++i) {  // (B3^T d) B3
    v[4 * i + 0] = t[i][0] - t[i][2];
    v[4 * i + 1] = t[i][1] + t[i][2];
    v[4 * i + 2] = t[i][2] - t[i][1];
    v[4 * i + 3] = t[i][3] - t[i][1];
  }
}

// A3^T m A3 for one 4 x 4 sum m, into the 3 x 3 window w[9].
SC_HOST_DEVICE inline void weight_output_tile(const float* m, float* w) {
  float t[3][4];  // A3^T m
  for (int j = 0; j < 4; ++j) {
    t[0][j] = m[j] + m[4 + j] + m[8 + j];
    t[1][j] = m[4 + j] - m[8 + j];
    t[2][j] = m[4 + j] + m[8 + j] + m[12 + j];
  }
  for (int i = 0; i < 3; ++i) {  // (A3^T m) A3
    w[3 * i + 0] = t[i][0] + t[i][1] + t[i][2];
    w[3 * i + 1] = t[i][1] - t[i][2];
    w[3 * i + 2] = t[i][1] + t[i][2] + t[i][3];
  }
}

// Y = A^T m A for one 4 x 4 product tile m (row-major), into y[4] (row-major 2 x 2).
SC_HOST_DEVICE inline void output_tile(const float* m, float* y) {
  float t[2][4];  // A^T m
  for (int j = 0; j < 4; ++j) {
    t[0][j] = m[j] + m[4 + j] + m[8 + j];
    t[1][j] = m[4 + j] - m[8 + j] - m[12 + j];
  }
  for (int i = 0; i < 2; ++i) {  // (A^T m) A
    y[2 * i + 0] = t[i][0] + t[i][1] + t[i][2];
    y[2 * i + 1] = t[i][1] - t[i][2] - t[i][3];
  }
}

}  // namespace winograd

}  // namespace sc::kernels

namespace sc::kernels::cpu {

// The readable reference of the CUDA Winograd forward (kernels/cuda/winograd.cu): the four
// stages above with plain loops and the CPU GEMM. float32; the shape must satisfy
// winograd_applies. Same contract as conv2d_forward (bias may be null).
void winograd_conv2d_forward(const float* x, const float* weight, const float* bias, float* y, const Conv2dShape& s);
// grad_x from grad_y through the forward above (winograd_input_gradient_shape); the shape must
// satisfy winograd_applies_to_input_gradient.
void winograd_conv2d_backward_input(const float* grad_y, const float* weight, float* grad_x, const Conv2dShape& s);
// grad_weight [O, C, 3, 3] from grad_y and x with F(3x3, 2x2); the shape must satisfy
// winograd_applies.
void winograd_conv2d_backward_weight(const float* grad_y, const float* x, float* grad_weight, const Conv2dShape& s);

}  // namespace sc::kernels::cpu

namespace sc::kernels::cuda {

// The same on the GPU: a filter-transform kernel, an input-transform kernel, 16 batched GEMMs
// (gemm_batched, the hand-written rung in use) and an output-transform kernel. Workspace:
// 16 (O C + C T + O T) floats from the caching allocator.
void winograd_conv2d_forward(const float* x, const float* weight, const float* bias, float* y, const Conv2dShape& s);
void winograd_conv2d_backward_input(const float* grad_y, const float* weight, float* grad_x, const Conv2dShape& s);
// The sum over tiles is split into a fixed number of chunks (a function of the shape), each a
// batched GEMM, and the chunks are added in order: the same bits on every run.
void winograd_conv2d_backward_weight(const float* grad_y, const float* x, float* grad_weight, const Conv2dShape& s);

// Which algorithm the hand-written float32 convolution kernels use for the shapes Winograd
// applies to (forward, input gradient, weight gradient): ImplicitGemm (the default until a GPU
// run has measured Winograd) or Winograd. The first call reads SC_CUDA_CONV (implicit |
// winograd).
enum class ConvAlgo { ImplicitGemm, Winograd };
ConvAlgo conv_algo();
void set_conv_algo(ConvAlgo algo);

}  // namespace sc::kernels::cuda
