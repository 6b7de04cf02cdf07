#pragma once
// Augmentation plans: the random parameters of one view, drawn on the CPU, then applied to
// the image by a kernel, on the CPU or on the GPU.
//
// Why: a CUDA training step at batch 256 needs 512 augmented views per step, and 2 CPU cores
// cannot make them as fast as an H100 trains on them. The views are instead cut in two:
//   1. the CPU draws every random number (augment/plan.h: Transform::draw_steps draws them
//      exactly as Transform::apply does) into a small fixed-size AugmentPlan per view;
//   2. the uint8 images and the plans go to the GPU, and one block per view runs the plan
//      (kernels/cuda/augment.cu).
// The pixel arithmetic lives once, in augment_math below: the CPU transforms of augment/,
// the CPU reference runner (kernels/cpu/augment.cpp) and the CUDA kernel all call it. Every
// file that does is compiled without multiply-add contraction (-ffp-contract=off for g++ and
// clang, -fmad=false for nvcc), so each operation is rounded on its own and the three give
// the same float for the same pixel: a test on the CPU pins the runner to the transforms bit
// for bit, and the GPU test pins the kernel to the runner. The one exception is the mean that
// contrast blends with: a sum in double, whose order differs on the GPU (see
// kernels/cuda/augment.cu).
//
// The kernels know no Tensor and no Image: images are uint8 CHW buffers (values / 255 give
// [0, 1], as augment::Image::from_u8), outputs float32 CHW.
#include <cmath>
#include <cstdint>
#include <string>

#include "kernels/host_device.h"

namespace sc::kernels {

// ---- the plan ------------------------------------------------------------------------

enum class AugmentStepKind : int32_t {
  ResizedCrop = 1,  // crop the window (top, left, height, width), bilinear resize to out_height x out_width
  HorizontalFlip,
  Blend,            // brightness or saturation or contrast: clamp01(blend_self * x + blend_other * other),
                    // other = 0 (brightness), the pixel's luma (saturation), the image's mean luma (contrast)
  Hue,              // RGB -> HSV, hue + hue_shift modulo 1, -> RGB
  Grayscale,        // every channel becomes the luma (3 channels stay 3)
  Blur,             // separable Gaussian, `kernel_size` taps in `weights`, reflect padding
  Solarize,         // x >= threshold -> 1 - x
  Rotate,           // nearest-neighbour rotation by (cos_a, sin_a); outside pixels get weights[c]
};

// What a Blend step blends each pixel with.
enum class BlendWith : int32_t { Black = 0, PixelLuma = 1, MeanLuma = 2 };

// Room in a step for the Gaussian taps or the rotation's per-channel fill values. A larger
// blur kernel or more channels than this are refused when the plan is drawn.
constexpr int kAugmentMaxWeights = 32;
// Steps in one view's plan (the SimCLR presets use at most 7: crop, flip, four jitters, gray).
constexpr int kAugmentMaxSteps = 16;

struct AugmentStep {
  AugmentStepKind kind = AugmentStepKind::HorizontalFlip;
  // ResizedCrop: the window and the output size.
  int32_t top = 0, left = 0, height = 0, width = 0, out_height = 0, out_width = 0;
  BlendWith blend_with = BlendWith::Black;
  float blend_self = 1.0f, blend_other = 0.0f;  // Blend
  float hue_shift = 0.0f;                       // Hue, in turns
  float threshold = 0.0f;                       // Solarize
  float cos_a = 1.0f, sin_a = 0.0f;             // Rotate: of the angle the output is mapped back by
  int32_t kernel_size = 0;                      // Blur
  float weights[kAugmentMaxWeights] = {};       // Blur: the taps; Rotate: fill per channel (or weights[0] for all)
  int32_t fill_per_channel = 0;                 // Rotate: 1 when weights holds one fill value per channel
};

// One view: which image of the batch it starts from, the steps in order, and the shapes.
// Every step keeps the channel count; only ResizedCrop changes height and width.
struct AugmentPlan {
  int32_t source = 0;                   // index of the input image in the batch
  int32_t channels = 0, in_height = 0, in_width = 0;
  int32_t out_height = 0, out_width = 0;  // after the last step
  int32_t max_plane = 0;                // the largest height * width any step reads or writes
  int32_t num_steps = 0;
  AugmentStep steps[kAugmentMaxSteps];
};

// ---- the pixel arithmetic, shared by the CPU and the GPU ----------------------------------
namespace augment_math {

// The luma weights of torchvision's rgb_to_grayscale (augment/color.h explains the 0.2989).
constexpr float kLumaR = 0.2989f, kLumaG = 0.587f, kLumaB = 0.114f;

// std::min(std::max(x, 0), 1), written out so NaN passes through on the GPU as on the CPU.
SC_HOST_DEVICE inline float clamp01(float x) {
  const float lo = x < 0.0f ? 0.0f : x;
  return 1.0f < lo ? 1.0f : lo;
}

SC_HOST_DEVICE inline float luma(float r, float g, float b) { return kLumaR * r + kLumaG * g + kLumaB * b; }

// torchvision's _blend with both weights already rounded to float.
SC_HOST_DEVICE inline float blend(float self_weight, float other_weight, float x, float other) {
  return clamp01(self_weight * x + other_weight * other);
}

// One output coordinate of a bilinear resize (align_corners=False, half-pixel centers):
// the two input indices and the weight of the second. PyTorch's float32 arithmetic.
struct LinearTap {
  int64_t i0, i1;
  float w1;
};
// scale = in_size / out_size in float (resize_scale), computed once per axis.
SC_HOST_DEVICE inline float resize_scale(int64_t in_size, int64_t out_size) {
  return static_cast<float>(in_size) / static_cast<float>(out_size);
}
SC_HOST_DEVICE inline LinearTap linear_tap(float scale, int64_t in_size, int64_t o) {
  float src = scale * (static_cast<float>(o) + 0.5f) - 0.5f;
  if (src < 0.0f) src = 0.0f;  // the first half pixel repeats the edge
  const int64_t i0 = static_cast<int64_t>(src);
  const int64_t i1 = i0 + (i0 < in_size - 1 ? 1 : 0);
  return {i0, i1, src - static_cast<float>(i0)};
}

// The bilinear sample between rows r (weight of row1: h1) and columns t.
SC_HOST_DEVICE inline float bilinear(const float* row0, const float* row1, float h1, const LinearTap& t) {
  const float h0 = 1.0f - h1, w1 = t.w1, w0 = 1.0f - t.w1;
  return h0 * (w0 * row0[t.i0] + w1 * row0[t.i1]) + h1 * (w0 * row1[t.i0] + w1 * row1[t.i1]);
}

// Reflect padding: -1 -> 1, n -> n - 2 (valid while the overhang is smaller than n).
SC_HOST_DEVICE inline int64_t reflect(int64_t i, int64_t n) {
  if (i < 0) return -i;
  if (i >= n) return 2 * (n - 1) - i;
  return i;
}

SC_HOST_DEVICE inline float solarize(float x, float threshold) { return x >= threshold ? 1.0f - x : x; }

// Shifts the hue of one RGB pixel by `shift` turns (in [-0.5, 0.5]): RGB -> HSV written as
// Python's colorsys does, hue + shift modulo 1 into [0, 1), HSV -> RGB.
SC_HOST_DEVICE inline void shift_hue(float& r, float& g, float& b, float shift) {
  const float maxc = r > (g > b ? g : b) ? r : (g > b ? g : b);
  const float minc = r < (g < b ? g : b) ? r : (g < b ? g : b);
  const float chroma = maxc - minc;
  const bool gray = maxc == minc;
  const float s = chroma / (gray ? 1.0f : maxc);
  const float divisor = gray ? 1.0f : chroma;
  const float rc = (maxc - r) / divisor, gc = (maxc - g) / divisor, bc = (maxc - b) / divisor;
  float h;
  if (maxc == r) {
    h = bc - gc;
  } else if (maxc == g) {
    h = 2.0f + rc - bc;
  } else {
    h = 4.0f + gc - rc;
  }
  // Into [0, 1): h / 6 + 1 lies in [5/6, 11/6], so fmod(., 1) is one exact subtraction.
  h = h / 6.0f + 1.0f;
  if (h >= 1.0f) h -= 1.0f;
  // h + shift lies in [-0.5, 1.5): one correction gives Python's % (and fmod's float).
  h += shift;
  if (h < 0.0f) {
    h += 1.0f;
  } else if (h >= 1.0f) {
    h -= 1.0f;
  }
  const float v = maxc;
  const float sector = floorf(h * 6.0f);
  const float f = h * 6.0f - sector;
  const float p = clamp01(v * (1.0f - s));
  const float q = clamp01(v * (1.0f - s * f));
  const float t = clamp01(v * (1.0f - s * (1.0f - f)));
  switch (static_cast<int>(sector) % 6) {
    case 0: r = v, g = t, b = p; break;
    case 1: r = q, g = v, b = p; break;
    case 2: r = p, g = v, b = t; break;
    case 3: r = p, g = q, b = v; break;
    case 4: r = t, g = p, b = v; break;
    default: r = v, g = p, b = q; break;
  }
}

// The maps a rotation by (cos_a, sin_a) of an h x w image uses, rounded to float32 as
// torchvision builds its grid (see augment/geometry.h, rotate()).
struct RotationGrid {
  float half_w, half_h, gx_from_u, gx_from_v, gy_from_u, gy_from_v;
};
SC_HOST_DEVICE inline RotationGrid rotation_grid(float cos_a, float sin_a, int64_t h, int64_t w) {
  const float half_w = 0.5f * static_cast<float>(w), half_h = 0.5f * static_cast<float>(h);
  return {half_w, half_h, cos_a / half_w, sin_a / half_w, -sin_a / half_h, cos_a / half_h};
}
// The input pixel output pixel (x, y) takes, in *sx, *sy (outside the image when the source
// falls outside): grid_sample's un-normalisation (align_corners=False) rounded half to even.
SC_HOST_DEVICE inline void rotation_source(const RotationGrid& g, int64_t h, int64_t w, int64_t x, int64_t y, int64_t* sx,
                                   int64_t* sy) {
  const float v = static_cast<float>(y) + 0.5f - g.half_h;
  const float u = static_cast<float>(x) + 0.5f - g.half_w;
  const float gx = u * g.gx_from_u + v * g.gx_from_v;
  const float gy = u * g.gy_from_u + v * g.gy_from_v;
  const float src_x = ((gx + 1.0f) * static_cast<float>(w) - 1.0f) / 2.0f;
  const float src_y = ((gy + 1.0f) * static_cast<float>(h) - 1.0f) / 2.0f;
  *sx = static_cast<int64_t>(rintf(src_x));
  *sy = static_cast<int64_t>(rintf(src_y));
}

}  // namespace augment_math

}  // namespace sc::kernels

namespace sc::kernels::cpu {

// One step on a float CHW image of channels x height x width. `out` holds the image after the
// step: channels x out_height x out_width for ResizedCrop, the input's size otherwise. `in`
// and `out` must not overlap. The step is assumed valid (check_augment_plan, or the checks of
// the augment/ functions that build single steps).
void augment_step(const AugmentStep& step, const float* in, int64_t channels, int64_t height, int64_t width, float* out);

// The two steps whose parameters do not always fit in a step, for any kernel size and any
// number of channels (augment/ calls them directly; augment_step calls them with the step's
// weights). Blur: `taps` holds kernel_size weights, kernel_size / 2 < height and width.
// Rotate: fill holds one value, or one per channel when fill_per_channel.
void blur_image(const float* in, int64_t channels, int64_t height, int64_t width, const float* taps, int64_t kernel_size,
                float* out);
void rotate_image(const float* in, int64_t channels, int64_t height, int64_t width, float cos_a, float sin_a,
                  const float* fill, bool fill_per_channel, float* out);

// What is wrong with one step on the image it runs on (channels x height x width): an unknown
// kind, a window outside the image, a blur that does not fit. "" when nothing is; otherwise
// " (Kind): what" (or ": unknown step kind N"), for the caller to prefix with where the step is.
std::string augment_step_problem(const AugmentStep& step, int64_t channels, int64_t height, int64_t width);

// Checks one plan against the batch it runs on: the source index, the shapes, and every step
// (a known kind, a window inside the image, a blur that fits, enough room in max_plane).
// Throws sc::Error naming the view and the step. Both runners rely on it for memory safety.
void check_augment_plan(const AugmentPlan& plan, int64_t view, int64_t image_count, int64_t channels, int64_t height,
                        int64_t width, int64_t out_height, int64_t out_width);

// The reference runner: view v is plans[v] applied to image plans[v].source of `images`
// (uint8 CHW images of channels x height x width), written as float to
// out + v * channels * out_height * out_width. As on the GPU, the plans must have been checked
// (check_augment_plan: the op augment_views in core/augment.h checks them once, for both).
void augment_views(const uint8_t* images, int64_t channels, int64_t height, int64_t width, const AugmentPlan* plans,
                   int64_t views, int64_t out_height, int64_t out_width, float* out);

}  // namespace sc::kernels::cpu

namespace sc::kernels::cuda {

// The same on the GPU, one block per view: images, plans and out are device pointers. The
// plans must have been checked on the host (check_augment_plan) before they were copied;
// max_plane is the largest plans[v].max_plane (the scratch each view needs per channel).
void augment_views(const uint8_t* images, int64_t channels, int64_t height, int64_t width, const AugmentPlan* plans,
                   int64_t views, int64_t out_height, int64_t out_width, int64_t max_plane, float* out);

}  // namespace sc::kernels::cuda
