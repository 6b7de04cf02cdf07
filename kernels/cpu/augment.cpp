// The CPU runner of augmentation plans (kernels/augment.h): the reference for
// kernels/cuda/augment.cu, and the code every transform in augment/ runs on. Compiled with
// -ffp-contract=off (CMakeLists.txt) so each float operation is rounded on its own, as on the
// GPU (nvcc -fmad=false).
#include <algorithm>
#include <string>
#include <vector>

#include "base/error.h"
#include "kernels/augment.h"

namespace sc::kernels::cpu {

using namespace augment_math;

namespace {

const char* kind_name(AugmentStepKind kind) {
  switch (kind) {
    case AugmentStepKind::ResizedCrop: return "ResizedCrop";
    case AugmentStepKind::HorizontalFlip: return "HorizontalFlip";
    case AugmentStepKind::Blend: return "Blend";
    case AugmentStepKind::Hue: return "Hue";
    case AugmentStepKind::Grayscale: return "Grayscale";
    case AugmentStepKind::Blur: return "Blur";
    case AugmentStepKind::Solarize: return "Solarize";
    case AugmentStepKind::Rotate: return "Rotate";
  }
  return "unknown";
}

void resized_crop(const AugmentStep& s, const float* in, int64_t channels, int64_t height, int64_t width, float* out) {
  const int64_t oh = s.out_height, ow = s.out_width;
  const float row_scale = resize_scale(s.height, oh), column_scale = resize_scale(s.width, ow);
  std::vector<LinearTap> columns(static_cast<size_t>(ow));  // the same for every row: worked out once
  for (int64_t x = 0; x < ow; ++x) columns[x] = linear_tap(column_scale, s.width, x);
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t y = 0; y < oh; ++y) {
      const LinearTap r = linear_tap(row_scale, s.height, y);
      // The window's rows r.i0 and r.i1, shifted to the window's left edge.
      const float* row0 = in + (c * height + s.top + r.i0) * width + s.left;
      const float* row1 = in + (c * height + s.top + r.i1) * width + s.left;
      float* dst = out + (c * oh + y) * ow;
      for (int64_t x = 0; x < ow; ++x) dst[x] = bilinear(row0, row1, r.w1, columns[x]);
    }
  }
}

// The mean luma a contrast step blends with, summed in double in pixel order.
float mean_luma(const float* in, int64_t channels, int64_t plane) {
  double sum = 0.0;
  if (channels == 3) {
    for (int64_t i = 0; i < plane; ++i) sum += luma(in[i], in[plane + i], in[2 * plane + i]);
  } else {
    for (int64_t i = 0; i < plane; ++i) sum += in[i];
  }
  return static_cast<float>(sum / static_cast<double>(plane));
}

}  // namespace

void blur_image(const float* in, int64_t channels, int64_t height, int64_t width, const float* taps, int64_t kernel_size,
                float* out) {
  const int64_t half = kernel_size / 2, h = height, w = width;
  // Separable: rows into `tmp`, then columns. Each output sums its taps in kernel order,
  // starting from 0, as the GPU kernel does; the loops run over x innermost, so they
  // vectorize without changing any output's order of additions.
  std::vector<float> padded(static_cast<size_t>(w + 2 * half));
  std::vector<float> tmp(static_cast<size_t>(h * w));
  for (int64_t c = 0; c < channels; ++c) {
    const float* plane = in + c * h * w;
    for (int64_t y = 0; y < h; ++y) {
      const float* row = plane + y * w;
      for (int64_t x = -half; x < w + half; ++x) padded[x + half] = row[reflect(x, w)];
      float* tmp_row = &tmp[y * w];
      std::fill(tmp_row, tmp_row + w, 0.0f);
      for (int64_t k = 0; k < kernel_size; ++k) {
        const float weight = taps[k];
        const float* src = &padded[k];
        for (int64_t x = 0; x < w; ++x) tmp_row[x] += weight * src[x];
      }
    }
    float* dst = out + c * h * w;
    for (int64_t y = 0; y < h; ++y) {
      float* out_row = dst + y * w;
      std::fill(out_row, out_row + w, 0.0f);
      for (int64_t k = 0; k < kernel_size; ++k) {
        const float* src_row = &tmp[reflect(y + k - half, h) * w];
        const float weight = taps[k];
        for (int64_t x = 0; x < w; ++x) out_row[x] += weight * src_row[x];
      }
    }
  }
}

void rotate_image(const float* in, int64_t channels, int64_t height, int64_t width, float cos_a, float sin_a,
                  const float* fill, bool fill_per_channel, float* out) {
  const int64_t h = height, w = width, plane = h * w;
  const RotationGrid grid = rotation_grid(cos_a, sin_a, h, w);
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t x = 0; x < w; ++x) {
      int64_t sx = 0, sy = 0;
      rotation_source(grid, h, w, x, y, &sx, &sy);
      const bool inside = sx >= 0 && sx < w && sy >= 0 && sy < h;
      for (int64_t c = 0; c < channels; ++c)
        out[c * plane + y * w + x] = inside ? in[c * plane + sy * w + sx] : fill[fill_per_channel ? c : 0];
    }
  }
}

void augment_step(const AugmentStep& s, const float* in, int64_t channels, int64_t height, int64_t width, float* out) {
  const int64_t plane = height * width, n = channels * plane;
  switch (s.kind) {
    case AugmentStepKind::ResizedCrop:
      resized_crop(s, in, channels, height, width, out);
      return;
    case AugmentStepKind::HorizontalFlip:
      for (int64_t row = 0; row < channels * height; ++row)
        for (int64_t x = 0; x < width; ++x) out[row * width + x] = in[row * width + width - 1 - x];
      return;
    case AugmentStepKind::Blend: {
      // The weights in locals: `out` could alias the step as far as the compiler knows.
      const float self_weight = s.blend_self, other_weight = s.blend_other;
      if (s.blend_with == BlendWith::PixelLuma) {  // saturation: 3 channels
        for (int64_t i = 0; i < plane; ++i) {
          const float gray = luma(in[i], in[plane + i], in[2 * plane + i]);
          for (int64_t c = 0; c < 3; ++c) out[c * plane + i] = blend(self_weight, other_weight, in[c * plane + i], gray);
        }
      } else {
        const float other = s.blend_with == BlendWith::MeanLuma ? mean_luma(in, channels, plane) : 0.0f;
        for (int64_t i = 0; i < n; ++i) out[i] = blend(self_weight, other_weight, in[i], other);
      }
      return;
    }
    case AugmentStepKind::Hue:
      for (int64_t i = 0; i < plane; ++i) {
        float r = in[i], g = in[plane + i], b = in[2 * plane + i];
        shift_hue(r, g, b, s.hue_shift);
        out[i] = r, out[plane + i] = g, out[2 * plane + i] = b;
      }
      return;
    case AugmentStepKind::Grayscale:
      for (int64_t i = 0; i < plane; ++i) {
        const float y = luma(in[i], in[plane + i], in[2 * plane + i]);
        for (int64_t c = 0; c < 3; ++c) out[c * plane + i] = y;
      }
      return;
    case AugmentStepKind::Blur:
      blur_image(in, channels, height, width, s.weights, s.kernel_size, out);
      return;
    case AugmentStepKind::Solarize: {
      const float threshold = s.threshold;
      for (int64_t i = 0; i < n; ++i) out[i] = solarize(in[i], threshold);
      return;
    }
    case AugmentStepKind::Rotate:
      rotate_image(in, channels, height, width, s.cos_a, s.sin_a, s.weights, s.fill_per_channel != 0, out);
      return;
  }
  throw Error(detail::concat("augment_step: unknown step kind ", static_cast<int>(s.kind)));
}

std::string augment_step_problem(const AugmentStep& s, int64_t channels, int64_t height, int64_t width) {
  const int64_t h = height, w = width;
  const auto kind = [&s] { return detail::concat(" (", kind_name(s.kind), "): "); };  // built only for a problem
  switch (s.kind) {
    case AugmentStepKind::ResizedCrop:
      if (!(s.height > 0 && s.width > 0 && s.top >= 0 && s.left >= 0 && s.top + s.height <= h && s.left + s.width <= w))
        return detail::concat(kind(), "the window rows [", s.top, ", ", s.top + s.height, ") x columns [", s.left, ", ",
                              s.left + s.width, ") is not inside the ", h, "x", w, " image");
      if (!(s.out_height > 0 && s.out_width > 0))
        return detail::concat(kind(), "output size ", s.out_height, "x", s.out_width, " is not positive");
      return {};
    case AugmentStepKind::HorizontalFlip:
    case AugmentStepKind::Solarize:
      return {};
    case AugmentStepKind::Blend:
      if (!(s.blend_with == BlendWith::Black || s.blend_with == BlendWith::PixelLuma || s.blend_with == BlendWith::MeanLuma))
        return detail::concat(kind(), "unknown blend partner ", static_cast<int>(s.blend_with));
      if (s.blend_with == BlendWith::PixelLuma && channels != 3)
        return detail::concat(kind(), "a saturation blend needs 3 channels, got ", channels);
      if (s.blend_with == BlendWith::MeanLuma && channels != 1 && channels != 3)
        return detail::concat(kind(), "a contrast blend needs 1 or 3 channels, got ", channels);
      return {};
    case AugmentStepKind::Hue:
    case AugmentStepKind::Grayscale:
      if (channels != 3) return detail::concat(kind(), "needs 3 channels (RGB), got ", channels);
      return {};
    case AugmentStepKind::Blur:
      if (!(s.kernel_size > 0 && s.kernel_size % 2 == 1 && s.kernel_size <= kAugmentMaxWeights))
        return detail::concat(kind(), "kernel size ", s.kernel_size, " must be odd and in [1, ", kAugmentMaxWeights, "]");
      if (!(s.kernel_size / 2 < h && s.kernel_size / 2 < w))
        return detail::concat(kind(), "reflect padding needs kernel_size / 2 (", s.kernel_size / 2, ") smaller than the ", h, "x",
                              w, " image");
      return {};
    case AugmentStepKind::Rotate:
      if (s.fill_per_channel != 0 && channels > kAugmentMaxWeights)
        return detail::concat(kind(), "one fill value per channel holds at most ", kAugmentMaxWeights, " channels, got ", channels);
      return {};
  }
  return detail::concat(": unknown step kind ", static_cast<int>(s.kind));
}

void check_augment_plan(const AugmentPlan& plan, int64_t view, int64_t image_count, int64_t channels, int64_t height,
                        int64_t width, int64_t out_height, int64_t out_width) {
  const std::string where = detail::concat("augment plan of view ", view);
  SC_CHECK(plan.source >= 0 && plan.source < image_count, where, ": source image ", plan.source, " is not in the batch of ",
           image_count, " images");
  SC_CHECK(plan.channels == channels && plan.in_height == height && plan.in_width == width, where, ": made for a ",
           plan.channels, "x", plan.in_height, "x", plan.in_width, " image, but the batch holds ", channels, "x", height, "x",
           width, " images");
  SC_CHECK(plan.out_height == out_height && plan.out_width == out_width, where, ": gives a ", plan.out_height, "x",
           plan.out_width, " view, but the batch's views are ", out_height, "x", out_width);
  SC_CHECK(plan.num_steps >= 0 && plan.num_steps <= kAugmentMaxSteps, where, ": ", plan.num_steps, " steps (at most ",
           kAugmentMaxSteps, ")");
  int64_t h = height, w = width, largest = h * w;
  for (int32_t i = 0; i < plan.num_steps; ++i) {
    const AugmentStep& s = plan.steps[i];
    const std::string problem = augment_step_problem(s, channels, h, w);
    SC_CHECK(problem.empty(), where, ", step ", i, problem);
    if (s.kind == AugmentStepKind::ResizedCrop) h = s.out_height, w = s.out_width;
    largest = std::max(largest, h * w);
  }
  SC_CHECK(h == out_height && w == out_width, where, ": its steps give a ", h, "x", w, " view, but it states ", out_height, "x",
           out_width);
  SC_CHECK(plan.max_plane >= largest, where, ": max_plane ", plan.max_plane, " is smaller than the largest plane its steps use (",
           largest, ")");
}

void augment_views(const uint8_t* images, int64_t channels, int64_t height, int64_t width, const AugmentPlan* plans,
                   int64_t views, int64_t out_height, int64_t out_width, float* out) {
  // Two buffers for the whole batch, as large as the largest plane any view's steps use.
  int64_t max_plane = 0;
  for (int64_t v = 0; v < views; ++v) max_plane = std::max<int64_t>(max_plane, plans[v].max_plane);
  std::vector<float> current(static_cast<size_t>(channels * max_plane)), next(current.size());
  for (int64_t v = 0; v < views; ++v) {
    const AugmentPlan& plan = plans[v];
    const uint8_t* image = images + static_cast<int64_t>(plan.source) * channels * height * width;
    for (int64_t i = 0; i < channels * height * width; ++i) current[i] = image[i] / 255.0f;
    int64_t h = height, w = width;
    for (int32_t i = 0; i < plan.num_steps; ++i) {
      const AugmentStep& s = plan.steps[i];
      augment_step(s, current.data(), channels, h, w, next.data());
      if (s.kind == AugmentStepKind::ResizedCrop) h = s.out_height, w = s.out_width;
      current.swap(next);
    }
    std::copy(current.begin(), current.begin() + channels * h * w, out + v * channels * out_height * out_width);
  }
}

}  // namespace sc::kernels::cpu
