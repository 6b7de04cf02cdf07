#include "augment/color.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <sstream>

#include "augment/checks.h"
#include "augment/plan.h"
#include "core/augment.h"

namespace sc::augment {

using detail::check_image;
using detail::check_probability;

namespace {

// Contrast, saturation, hue and grayscale are defined for RGB and (trivially) for one
// channel only.
void check_gray_or_rgb(const Image& in, const char* where) {
  SC_CHECK(in.channels == 1 || in.channels == 3, where, ": needs a 1-channel or 3-channel (RGB) image, got ", in.channels, " channels");
}

void check_factor(double factor, const char* where) {
  SC_CHECK(std::isfinite(factor) && factor >= 0.0, where, ": the factor must be >= 0, got ", factor);
}

kernels::AugmentStep kind_step(kernels::AugmentStepKind kind) {
  kernels::AugmentStep s;
  s.kind = kind;
  return s;
}

kernels::AugmentStep solarize_step(double threshold) {
  kernels::AugmentStep s = kind_step(kernels::AugmentStepKind::Solarize);
  s.threshold = static_cast<float>(threshold);
  return s;
}

kernels::AugmentStep hue_step(double shift) {
  kernels::AugmentStep s = kind_step(kernels::AugmentStepKind::Hue);
  s.hue_shift = static_cast<float>(shift);
  return s;
}

}  // namespace

// ---- deterministic forms -----------------------------------------------------------

Image rgb_to_grayscale(const Image& in, int64_t output_channels) {
  check_image(in, "rgb_to_grayscale");
  check_gray_or_rgb(in, "rgb_to_grayscale");
  SC_CHECK(output_channels == 1 || output_channels == 3, "rgb_to_grayscale: output_channels must be 1 or 3, got ", output_channels);
  if (in.channels == 1) {
    SC_CHECK(output_channels == 1, "rgb_to_grayscale: a 1-channel image stays 1-channel, got output_channels ", output_channels);
    return in;
  }
  const Image gray = run_steps(in, {kind_step(kernels::AugmentStepKind::Grayscale)});
  if (output_channels == 3) return gray;
  Image out(1, in.height, in.width);
  std::copy(gray.pixels.begin(), gray.pixels.begin() + in.height * in.width, out.pixels.begin());
  return out;
}

Image adjust_brightness(const Image& in, double factor) {
  check_image(in, "adjust_brightness");
  check_factor(factor, "adjust_brightness");
  return run_steps(in, {blend_step(factor, kernels::BlendWith::Black)});
}

Image adjust_contrast(const Image& in, double factor) {
  check_image(in, "adjust_contrast");
  check_gray_or_rgb(in, "adjust_contrast");
  check_factor(factor, "adjust_contrast");
  // The mean luma is accumulated in double (kernels/cpu/augment.cpp): PyTorch sums float32
  // pairwise, and both stay well inside float32's rounding of the result.
  return run_steps(in, {blend_step(factor, kernels::BlendWith::MeanLuma)});
}

Image adjust_saturation(const Image& in, double factor) {
  check_image(in, "adjust_saturation");
  check_gray_or_rgb(in, "adjust_saturation");
  check_factor(factor, "adjust_saturation");
  if (in.channels == 1) return in;  // already gray: nothing to blend with
  return run_steps(in, {blend_step(factor, kernels::BlendWith::PixelLuma)});
}

Image adjust_hue(const Image& in, double shift) {
  check_image(in, "adjust_hue");
  check_gray_or_rgb(in, "adjust_hue");
  SC_CHECK(std::isfinite(shift) && shift >= -0.5 && shift <= 0.5, "adjust_hue: the shift must be in [-0.5, 0.5] (turns), got ", shift);
  if (in.channels == 1) return in;  // no hue to shift
  return run_steps(in, {hue_step(shift)});
}

Image solarize(const Image& in, double threshold) {
  check_image(in, "solarize");
  SC_CHECK(std::isfinite(threshold) && threshold >= 0.0 && threshold <= 1.0, "solarize: the threshold must be in [0, 1], got ", threshold);
  return run_steps(in, {solarize_step(threshold)});
}

// ---- ColorJitter ---------------------------------------------------------------------

ColorJitter::ColorJitter(double brightness, double contrast, double saturation, double hue, double p)
    : brightness_(brightness), contrast_(contrast), saturation_(saturation), hue_(hue), p_(p) {
  SC_CHECK(std::isfinite(brightness) && brightness >= 0.0, "ColorJitter: brightness must be >= 0, got ", brightness);
  SC_CHECK(std::isfinite(contrast) && contrast >= 0.0, "ColorJitter: contrast must be >= 0, got ", contrast);
  SC_CHECK(std::isfinite(saturation) && saturation >= 0.0, "ColorJitter: saturation must be >= 0, got ", saturation);
  SC_CHECK(std::isfinite(hue) && hue >= 0.0 && hue <= 0.5, "ColorJitter: hue must be in [0, 0.5], got ", hue);
  check_probability(p, "ColorJitter");
}

void ColorJitter::draw_steps(PlanBuilder& plan, Generator& gen) const {
  const int64_t channels = plan.channels();
  // Checked before the coin flip, so a bad image fails every time, not 80% of the time.
  if (contrast_ > 0.0 || saturation_ > 0.0 || hue_ > 0.0)
    SC_CHECK(channels == 1 || channels == 3, "ColorJitter: needs a 1-channel or 3-channel (RGB) image, got ", channels, " channels");
  if (!(gen.uniform() < p_)) return;

  std::array<int, 4> order = {0, 1, 2, 3};
  for (int i = 3; i > 0; --i) std::swap(order[i], order[gen.below(static_cast<uint64_t>(i + 1))]);
  auto factor_around_one = [&gen](double strength) { return std::max(0.0, 1.0 - strength) + (1.0 + strength - std::max(0.0, 1.0 - strength)) * gen.uniform(); };
  const double brightness = brightness_ > 0.0 ? factor_around_one(brightness_) : 1.0;
  const double contrast = contrast_ > 0.0 ? factor_around_one(contrast_) : 1.0;
  const double saturation = saturation_ > 0.0 ? factor_around_one(saturation_) : 1.0;
  const double hue = hue_ > 0.0 ? -hue_ + 2.0 * hue_ * gen.uniform() : 0.0;

  // Saturation and hue leave a one-channel image as it is: no step.
  for (int which : order) {
    if (which == 0 && brightness_ > 0.0) plan.add(blend_step(brightness, kernels::BlendWith::Black));
    if (which == 1 && contrast_ > 0.0) plan.add(blend_step(contrast, kernels::BlendWith::MeanLuma));
    if (which == 2 && saturation_ > 0.0 && channels == 3) plan.add(blend_step(saturation, kernels::BlendWith::PixelLuma));
    if (which == 3 && hue_ > 0.0 && channels == 3) plan.add(hue_step(hue));
  }
}

std::string ColorJitter::describe() const {
  std::ostringstream os;
  os << "ColorJitter(brightness=" << brightness_ << ", contrast=" << contrast_ << ", saturation=" << saturation_ << ", hue=" << hue_
     << ", p=" << p_ << ")";
  return os.str();
}

// ---- RandomGrayscale -------------------------------------------------------------------

RandomGrayscale::RandomGrayscale(double p) : p_(p) { check_probability(p, "RandomGrayscale"); }

void RandomGrayscale::draw_steps(PlanBuilder& plan, Generator& gen) const {
  SC_CHECK(plan.channels() == 1 || plan.channels() == 3, "RandomGrayscale: needs a 1-channel or 3-channel (RGB) image, got ",
           plan.channels(), " channels");
  // One channel is gray already: the draw is made, no step added.
  if (gen.uniform() < p_ && plan.channels() == 3) plan.add(kind_step(kernels::AugmentStepKind::Grayscale));
}

std::string RandomGrayscale::describe() const {
  std::ostringstream os;
  os << "RandomGrayscale(p=" << p_ << ")";
  return os.str();
}

// ---- Solarize ------------------------------------------------------------------------

Solarize::Solarize(double threshold, double p) : threshold_(threshold), p_(p) {
  SC_CHECK(std::isfinite(threshold) && threshold >= 0.0 && threshold <= 1.0, "Solarize: threshold must be in [0, 1], got ", threshold);
  check_probability(p, "Solarize");
}

void Solarize::draw_steps(PlanBuilder& plan, Generator& gen) const {
  if (gen.uniform() < p_) plan.add(solarize_step(threshold_));
}

std::string Solarize::describe() const {
  std::ostringstream os;
  os << "Solarize(threshold=" << threshold_ << ", p=" << p_ << ")";
  return os.str();
}

}  // namespace sc::augment
