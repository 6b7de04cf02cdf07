#include "augment/geometry.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "augment/checks.h"

namespace sc::augment {

using detail::check_image;
using detail::check_probability;
using detail::range_string;

namespace {

// Python's round(): nearest integer, halves to even (std::nearbyint in the default
// rounding mode). torchvision's get_params rounds the crop sides this way.
int64_t round_half_even(double x) { return static_cast<int64_t>(std::nearbyint(x)); }

// For one output axis: the two input indices and the weight of the second, as PyTorch's
// bilinear interpolation with align_corners=False (half-pixel centers), in float32.
struct LinearTap {
  int64_t i0, i1;
  float w1;
};

std::vector<LinearTap> linear_taps(int64_t in_size, int64_t out_size) {
  std::vector<LinearTap> taps(out_size);
  const float scale = static_cast<float>(in_size) / static_cast<float>(out_size);
  for (int64_t o = 0; o < out_size; ++o) {
    float src = scale * (static_cast<float>(o) + 0.5f) - 0.5f;
    if (src < 0.0f) src = 0.0f;  // the first half pixel repeats the edge
    const int64_t i0 = static_cast<int64_t>(src);
    const int64_t i1 = i0 + (i0 < in_size - 1 ? 1 : 0);
    taps[o] = {i0, i1, src - static_cast<float>(i0)};
  }
  return taps;
}

}  // namespace

// ---- deterministic forms -----------------------------------------------------------

Image crop(const Image& in, int64_t top, int64_t left, int64_t height, int64_t width) {
  check_image(in, "crop");
  SC_CHECK(height > 0 && width > 0, "crop: the window must have positive height and width, got ", height, "x", width);
  SC_CHECK(top >= 0 && left >= 0 && top + height <= in.height && left + width <= in.width, "crop: the window rows [", top, ", ",
           top + height, ") x columns [", left, ", ", left + width, ") does not fit inside the ", in.height, "x", in.width, " image");
  Image out(in.channels, height, width);
  for (int64_t c = 0; c < in.channels; ++c)
    for (int64_t y = 0; y < height; ++y) {
      const float* src = &in.pixels[(c * in.height + top + y) * in.width + left];
      std::copy(src, src + width, &out.pixels[(c * height + y) * width]);
    }
  return out;
}

Image resize_bilinear(const Image& in, int64_t out_height, int64_t out_width) {
  check_image(in, "resize_bilinear");
  SC_CHECK(out_height > 0 && out_width > 0, "resize_bilinear: the output size must be positive, got ", out_height, "x", out_width);
  const std::vector<LinearTap> rows = linear_taps(in.height, out_height);
  const std::vector<LinearTap> cols = linear_taps(in.width, out_width);
  Image out(in.channels, out_height, out_width);
  for (int64_t c = 0; c < in.channels; ++c) {
    const float* plane = &in.pixels[c * in.height * in.width];
    float* dst = &out.pixels[c * out_height * out_width];
    for (int64_t y = 0; y < out_height; ++y) {
      const LinearTap& r = rows[y];
      const float* row0 = plane + r.i0 * in.width;
      const float* row1 = plane + r.i1 * in.width;
      const float h1 = r.w1, h0 = 1.0f - r.w1;
      for (int64_t x = 0; x < out_width; ++x) {
        const LinearTap& t = cols[x];
        const float w1 = t.w1, w0 = 1.0f - t.w1;
        dst[y * out_width + x] = h0 * (w0 * row0[t.i0] + w1 * row0[t.i1]) + h1 * (w0 * row1[t.i0] + w1 * row1[t.i1]);
      }
    }
  }
  return out;
}

Image resized_crop(const Image& in, int64_t top, int64_t left, int64_t height, int64_t width, int64_t out_height, int64_t out_width) {
  return resize_bilinear(crop(in, top, left, height, width), out_height, out_width);
}

Image hflip(const Image& in) {
  check_image(in, "hflip");
  Image out(in.channels, in.height, in.width);
  for (int64_t row = 0; row < in.channels * in.height; ++row) {
    const float* src = &in.pixels[row * in.width];
    std::reverse_copy(src, src + in.width, &out.pixels[row * in.width]);
  }
  return out;
}

Image rotate(const Image& in, double degrees, const std::vector<float>& fill) {
  check_image(in, "rotate");
  SC_CHECK(std::isfinite(degrees), "rotate: the angle must be finite, got ", degrees);
  SC_CHECK(fill.size() == 1 || static_cast<int64_t>(fill.size()) == in.channels, "rotate: fill must hold 1 value or one per channel (",
           in.channels, "), got ", fill.size());
  const int64_t h = in.height, w = in.width;

  // The output-to-input map, rounded to float32 as torchvision builds it: the inverse
  // rotation matrix [cos, -sin; sin, cos] (rows going down), divided by the half sizes
  // because grid_sample works in [-1, 1] coordinates.
  const double radians = -degrees * (M_PI / 180.0);
  const float cos_a = static_cast<float>(std::cos(radians));
  const float sin_a = static_cast<float>(std::sin(radians));
  const float half_w = 0.5f * static_cast<float>(w), half_h = 0.5f * static_cast<float>(h);
  const float gx_from_u = cos_a / half_w, gx_from_v = sin_a / half_w;
  const float gy_from_u = -sin_a / half_h, gy_from_v = cos_a / half_h;

  Image out(in.channels, h, w);
  const int64_t plane = h * w;
  for (int64_t y = 0; y < h; ++y) {
    const float v = static_cast<float>(y) + 0.5f - half_h;  // offset from the center, pixel centers
    for (int64_t x = 0; x < w; ++x) {
      const float u = static_cast<float>(x) + 0.5f - half_w;
      // Normalized grid coordinates, then grid_sample's un-normalization (align_corners=False).
      const float gx = u * gx_from_u + v * gx_from_v;
      const float gy = u * gy_from_u + v * gy_from_v;
      const float src_x = ((gx + 1.0f) * static_cast<float>(w) - 1.0f) / 2.0f;
      const float src_y = ((gy + 1.0f) * static_cast<float>(h) - 1.0f) / 2.0f;
      const int64_t sx = static_cast<int64_t>(std::nearbyint(src_x));
      const int64_t sy = static_cast<int64_t>(std::nearbyint(src_y));
      const bool inside = sx >= 0 && sx < w && sy >= 0 && sy < h;
      for (int64_t c = 0; c < in.channels; ++c) {
        out.pixels[c * plane + y * w + x] = inside ? in.pixels[c * plane + sy * w + sx] : fill[fill.size() == 1 ? 0 : c];
      }
    }
  }
  return out;
}

// ---- RandomResizedCrop -------------------------------------------------------------

RandomResizedCrop::RandomResizedCrop(int64_t size, double scale_min, double scale_max, double ratio_min, double ratio_max)
    : size_(size), scale_min_(scale_min), scale_max_(scale_max), ratio_min_(ratio_min), ratio_max_(ratio_max) {
  SC_CHECK(size > 0, "RandomResizedCrop: size must be positive, got ", size);
  SC_CHECK(std::isfinite(scale_min) && std::isfinite(scale_max) && scale_min > 0.0 && scale_min <= scale_max,
           "RandomResizedCrop: scale must be an ordered range of positive numbers, got ", range_string(scale_min, scale_max));
  SC_CHECK(std::isfinite(ratio_min) && std::isfinite(ratio_max) && ratio_min > 0.0 && ratio_min <= ratio_max,
           "RandomResizedCrop: ratio must be an ordered range of positive numbers, got ", range_string(ratio_min, ratio_max));
}

CropBox RandomResizedCrop::sample_box(int64_t height, int64_t width, Generator& gen) const {
  SC_CHECK(height > 0 && width > 0, "RandomResizedCrop: the image must have positive height and width, got ", height, "x", width);
  const double area = static_cast<double>(height) * static_cast<double>(width);
  const double log_ratio_min = std::log(ratio_min_), log_ratio_max = std::log(ratio_max_);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * (scale_min_ + (scale_max_ - scale_min_) * gen.uniform());
    const double aspect = std::exp(log_ratio_min + (log_ratio_max - log_ratio_min) * gen.uniform());
    const int64_t w = round_half_even(std::sqrt(target_area * aspect));
    const int64_t h = round_half_even(std::sqrt(target_area / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const int64_t top = static_cast<int64_t>(gen.below(static_cast<uint64_t>(height - h + 1)));
      const int64_t left = static_cast<int64_t>(gen.below(static_cast<uint64_t>(width - w + 1)));
      return {top, left, h, w};
    }
  }
  // No try fitted (a tall or wide image, or a scale range above 1): center crop with the
  // aspect ratio clamped into the range.
  const double in_ratio = static_cast<double>(width) / static_cast<double>(height);
  int64_t w = width, h = height;
  if (in_ratio < ratio_min_) {
    h = round_half_even(static_cast<double>(w) / ratio_min_);
  } else if (in_ratio > ratio_max_) {
    w = round_half_even(static_cast<double>(h) * ratio_max_);
  }
  h = std::clamp<int64_t>(h, 1, height);  // rounding can only move a side by less than one pixel
  w = std::clamp<int64_t>(w, 1, width);
  return {(height - h) / 2, (width - w) / 2, h, w};
}

Image RandomResizedCrop::apply(const Image& in, Generator& gen) const {
  check_image(in, "RandomResizedCrop");
  const CropBox box = sample_box(in.height, in.width, gen);
  return resized_crop(in, box.top, box.left, box.height, box.width, size_, size_);
}

std::string RandomResizedCrop::describe() const {
  std::ostringstream os;
  os << "RandomResizedCrop(" << size_ << ", scale=" << range_string(scale_min_, scale_max_) << ", ratio=" << range_string(ratio_min_, ratio_max_)
     << ")";
  return os.str();
}

// ---- HorizontalFlip ------------------------------------------------------------------

HorizontalFlip::HorizontalFlip(double p) : p_(p) { check_probability(p, "HorizontalFlip"); }

Image HorizontalFlip::apply(const Image& in, Generator& gen) const {
  check_image(in, "HorizontalFlip");
  return gen.uniform() < p_ ? hflip(in) : in;
}

std::string HorizontalFlip::describe() const {
  std::ostringstream os;
  os << "HorizontalFlip(p=" << p_ << ")";
  return os.str();
}

// ---- RandomRotation ------------------------------------------------------------------

RandomRotation::RandomRotation(double degrees, std::vector<float> fill) : degrees_(degrees), fill_(std::move(fill)) {
  SC_CHECK(std::isfinite(degrees) && degrees >= 0.0, "RandomRotation: degrees must be >= 0 (angles are drawn from [-degrees, degrees]), got ",
           degrees);
  SC_CHECK(!fill_.empty(), "RandomRotation: fill must hold at least one value");
}

Image RandomRotation::apply(const Image& in, Generator& gen) const {
  check_image(in, "RandomRotation");
  const double angle = -degrees_ + 2.0 * degrees_ * gen.uniform();
  return rotate(in, angle, fill_);
}

std::string RandomRotation::describe() const {
  std::ostringstream os;
  os << "RandomRotation(degrees=" << range_string(-degrees_, degrees_) << ", fill=";
  for (size_t i = 0; i < fill_.size(); ++i) os << (i ? "/" : "") << fill_[i];
  os << ")";
  return os.str();
}

}  // namespace sc::augment
