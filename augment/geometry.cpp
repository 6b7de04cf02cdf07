#include "augment/geometry.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "augment/checks.h"
#include "augment/plan.h"
#include "core/augment.h"

namespace sc::augment {

using detail::check_image;
using detail::check_probability;
using detail::range_string;

namespace {

// Python's round(): nearest integer, halves to even (std::nearbyint in the default
// rounding mode). torchvision's get_params rounds the crop sides this way.
int64_t round_half_even(double x) { return static_cast<int64_t>(std::nearbyint(x)); }

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

namespace {

// The one-step forms of the deterministic functions below.
kernels::AugmentStep resized_crop_step(int64_t top, int64_t left, int64_t height, int64_t width, int64_t out_height,
                                       int64_t out_width) {
  kernels::AugmentStep s;
  s.kind = kernels::AugmentStepKind::ResizedCrop;
  s.top = static_cast<int32_t>(top), s.left = static_cast<int32_t>(left);
  s.height = static_cast<int32_t>(height), s.width = static_cast<int32_t>(width);
  s.out_height = static_cast<int32_t>(out_height), s.out_width = static_cast<int32_t>(out_width);
  return s;
}

kernels::AugmentStep hflip_step() {
  kernels::AugmentStep s;
  s.kind = kernels::AugmentStepKind::HorizontalFlip;
  return s;
}

// The rotation's cosine and sine, rounded to float as torchvision builds its grid: of the
// inverse rotation (rows going down), which maps an output pixel back to its source.
void rotation_cos_sin(double degrees, float* cos_a, float* sin_a) {
  const double radians = -degrees * (M_PI / 180.0);
  *cos_a = static_cast<float>(std::cos(radians));
  *sin_a = static_cast<float>(std::sin(radians));
}

void check_sides(int64_t height, int64_t width, const char* where) {
  SC_CHECK(height <= INT32_MAX && width <= INT32_MAX, where, ": sides above 2^31 - 1 are not supported, got ", height, "x", width);
}

}  // namespace

Image resize_bilinear(const Image& in, int64_t out_height, int64_t out_width) {
  check_image(in, "resize_bilinear");
  SC_CHECK(out_height > 0 && out_width > 0, "resize_bilinear: the output size must be positive, got ", out_height, "x", out_width);
  check_sides(out_height, out_width, "resize_bilinear");
  check_sides(in.height, in.width, "resize_bilinear");
  return run_steps(in, {resized_crop_step(0, 0, in.height, in.width, out_height, out_width)});
}

Image resized_crop(const Image& in, int64_t top, int64_t left, int64_t height, int64_t width, int64_t out_height, int64_t out_width) {
  check_image(in, "resized_crop");
  SC_CHECK(height > 0 && width > 0, "resized_crop: the window must have positive height and width, got ", height, "x", width);
  SC_CHECK(top >= 0 && left >= 0 && top + height <= in.height && left + width <= in.width, "resized_crop: the window rows [", top, ", ",
           top + height, ") x columns [", left, ", ", left + width, ") does not fit inside the ", in.height, "x", in.width, " image");
  SC_CHECK(out_height > 0 && out_width > 0, "resized_crop: the output size must be positive, got ", out_height, "x", out_width);
  check_sides(out_height, out_width, "resized_crop");
  check_sides(in.height, in.width, "resized_crop");
  return run_steps(in, {resized_crop_step(top, left, height, width, out_height, out_width)});
}

Image hflip(const Image& in) {
  check_image(in, "hflip");
  return run_steps(in, {hflip_step()});
}

Image rotate(const Image& in, double degrees, const std::vector<float>& fill) {
  check_image(in, "rotate");
  SC_CHECK(std::isfinite(degrees), "rotate: the angle must be finite, got ", degrees);
  SC_CHECK(fill.size() == 1 || static_cast<int64_t>(fill.size()) == in.channels, "rotate: fill must hold 1 value or one per channel (",
           in.channels, "), got ", fill.size());
  float cos_a = 0.0f, sin_a = 0.0f;
  rotation_cos_sin(degrees, &cos_a, &sin_a);
  Image out(in.channels, in.height, in.width);
  rotate_image_cpu(in.pixels.data(), in.channels, in.height, in.width, cos_a, sin_a, fill.data(), fill.size() > 1,
                             out.pixels.data());
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

void RandomResizedCrop::draw_steps(PlanBuilder& plan, Generator& gen) const {
  const CropBox box = sample_box(plan.height(), plan.width(), gen);
  check_sides(size_, size_, "RandomResizedCrop");
  plan.add(resized_crop_step(box.top, box.left, box.height, box.width, size_, size_));
}

std::string RandomResizedCrop::describe() const {
  std::ostringstream os;
  os << "RandomResizedCrop(" << size_ << ", scale=" << range_string(scale_min_, scale_max_) << ", ratio=" << range_string(ratio_min_, ratio_max_)
     << ")";
  return os.str();
}

// ---- HorizontalFlip ------------------------------------------------------------------

HorizontalFlip::HorizontalFlip(double p) : p_(p) { check_probability(p, "HorizontalFlip"); }

void HorizontalFlip::draw_steps(PlanBuilder& plan, Generator& gen) const {
  if (gen.uniform() < p_) plan.add(hflip_step());
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

double RandomRotation::draw_angle(int64_t channels, Generator& gen) const {
  SC_CHECK(fill_.size() == 1 || static_cast<int64_t>(fill_.size()) == channels, "RandomRotation: fill must hold 1 value or one per channel (",
           channels, "), got ", fill_.size());
  return -degrees_ + 2.0 * degrees_ * gen.uniform();
}

// A fill of more values than a step holds runs here directly; the steps would refuse it.
Image RandomRotation::apply(const Image& in, Generator& gen) const {
  check_image(in, "RandomRotation");
  return rotate(in, draw_angle(in.channels, gen), fill_);
}

void RandomRotation::draw_steps(PlanBuilder& plan, Generator& gen) const {
  const double angle = draw_angle(plan.channels(), gen);
  SC_CHECK(fill_.size() <= static_cast<size_t>(kernels::kAugmentMaxWeights), "RandomRotation: a plan holds at most ",
           kernels::kAugmentMaxWeights, " fill values, got ", fill_.size());
  kernels::AugmentStep s;
  s.kind = kernels::AugmentStepKind::Rotate;
  rotation_cos_sin(angle, &s.cos_a, &s.sin_a);
  std::copy(fill_.begin(), fill_.end(), s.weights);
  s.fill_per_channel = fill_.size() > 1 ? 1 : 0;
  plan.add(s);
}

std::string RandomRotation::describe() const {
  std::ostringstream os;
  os << "RandomRotation(degrees=" << range_string(-degrees_, degrees_) << ", fill=";
  for (size_t i = 0; i < fill_.size(); ++i) os << (i ? "/" : "") << fill_[i];
  os << ")";
  return os.str();
}

}  // namespace sc::augment
