#include "augment/color.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <sstream>

#include "augment/checks.h"

namespace sc::augment {

using detail::check_image;
using detail::check_probability;

namespace {

float clamp01(float x) { return std::min(std::max(x, 0.0f), 1.0f); }

// Contrast, saturation, hue and grayscale are defined for RGB and (trivially) for one
// channel only.
void check_gray_or_rgb(const Image& in, const char* where) {
  SC_CHECK(in.channels == 1 || in.channels == 3, where, ": needs a 1-channel or 3-channel (RGB) image, got ", in.channels, " channels");
}

void check_factor(double factor, const char* where) {
  SC_CHECK(std::isfinite(factor) && factor >= 0.0, where, ": the factor must be >= 0, got ", factor);
}

// factor * a + (1 - factor) * b, clamped to [0, 1]: torchvision's _blend. Both weights are
// rounded to float first, as PyTorch does with a Python scalar times a float tensor.
struct Blend {
  float wa, wb;
  explicit Blend(double factor) : wa(static_cast<float>(factor)), wb(static_cast<float>(1.0 - factor)) {}
  float operator()(float a, float b) const { return clamp01(wa * a + wb * b); }
};

// The luma of pixel i of a 3-channel image (plane = height * width).
float luma(const float* px, int64_t plane, int64_t i) { return kLumaR * px[i] + kLumaG * px[plane + i] + kLumaB * px[2 * plane + i]; }

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
  const int64_t plane = in.height * in.width;
  Image out(output_channels, in.height, in.width);
  for (int64_t i = 0; i < plane; ++i) {
    const float y = luma(in.pixels.data(), plane, i);
    for (int64_t c = 0; c < output_channels; ++c) out.pixels[c * plane + i] = y;
  }
  return out;
}

Image adjust_brightness(const Image& in, double factor) {
  check_image(in, "adjust_brightness");
  check_factor(factor, "adjust_brightness");
  const Blend blend(factor);
  Image out = in;
  for (float& v : out.pixels) v = blend(v, 0.0f);
  return out;
}

Image adjust_contrast(const Image& in, double factor) {
  check_image(in, "adjust_contrast");
  check_gray_or_rgb(in, "adjust_contrast");
  check_factor(factor, "adjust_contrast");
  const int64_t plane = in.height * in.width;
  // The mean is accumulated in double: PyTorch sums float32 pairwise, and both stay well
  // inside float32's rounding of the result.
  double sum = 0.0;
  if (in.channels == 3) {
    for (int64_t i = 0; i < plane; ++i) sum += luma(in.pixels.data(), plane, i);
  } else {
    for (float v : in.pixels) sum += v;
  }
  const float mean = static_cast<float>(sum / static_cast<double>(plane));
  const Blend blend(factor);
  Image out = in;
  for (float& v : out.pixels) v = blend(v, mean);
  return out;
}

Image adjust_saturation(const Image& in, double factor) {
  check_image(in, "adjust_saturation");
  check_gray_or_rgb(in, "adjust_saturation");
  check_factor(factor, "adjust_saturation");
  if (in.channels == 1) return in;  // already gray: nothing to blend with
  const int64_t plane = in.height * in.width;
  const Blend blend(factor);
  Image out = in;
  for (int64_t i = 0; i < plane; ++i) {
    const float gray = luma(in.pixels.data(), plane, i);
    for (int64_t c = 0; c < 3; ++c) out.pixels[c * plane + i] = blend(in.pixels[c * plane + i], gray);
  }
  return out;
}

Image adjust_hue(const Image& in, double shift) {
  check_image(in, "adjust_hue");
  check_gray_or_rgb(in, "adjust_hue");
  SC_CHECK(std::isfinite(shift) && shift >= -0.5 && shift <= 0.5, "adjust_hue: the shift must be in [-0.5, 0.5] (turns), got ", shift);
  if (in.channels == 1) return in;  // no hue to shift
  const int64_t plane = in.height * in.width;
  const float shift_f = static_cast<float>(shift);
  Image out(3, in.height, in.width);
  for (int64_t i = 0; i < plane; ++i) {
    const float r = in.pixels[i], g = in.pixels[plane + i], b = in.pixels[2 * plane + i];
    // RGB -> HSV (the hexcone model, hue in turns), written as Python's colorsys does.
    const float maxc = std::max(r, std::max(g, b));
    const float minc = std::min(r, std::min(g, b));
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
    // Shift modulo 1 with a result in [0, 1), like Python's %: h + shift lies in [-0.5, 1.5),
    // so one correction suffices (and gives the same float as fmod; std::fmod is ~10x slower).
    h += shift_f;
    if (h < 0.0f) {
      h += 1.0f;
    } else if (h >= 1.0f) {
      h -= 1.0f;
    }
    // HSV -> RGB.
    const float v = maxc;
    const float sector = std::floor(h * 6.0f);
    const float f = h * 6.0f - sector;
    const float p = clamp01(v * (1.0f - s));
    const float q = clamp01(v * (1.0f - s * f));
    const float t = clamp01(v * (1.0f - s * (1.0f - f)));
    std::array<float, 3> rgb;
    switch (static_cast<int>(sector) % 6) {
      case 0: rgb = {v, t, p}; break;
      case 1: rgb = {q, v, p}; break;
      case 2: rgb = {p, v, t}; break;
      case 3: rgb = {p, q, v}; break;
      case 4: rgb = {t, p, v}; break;
      default: rgb = {v, p, q}; break;
    }
    for (int64_t c = 0; c < 3; ++c) out.pixels[c * plane + i] = rgb[c];
  }
  return out;
}

Image solarize(const Image& in, double threshold) {
  check_image(in, "solarize");
  SC_CHECK(std::isfinite(threshold) && threshold >= 0.0 && threshold <= 1.0, "solarize: the threshold must be in [0, 1], got ", threshold);
  const float t = static_cast<float>(threshold);
  Image out = in;
  for (float& v : out.pixels)
    if (v >= t) v = 1.0f - v;
  return out;
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

Image ColorJitter::apply(const Image& in, Generator& gen) const {
  check_image(in, "ColorJitter");
  // Checked before the coin flip, so a bad image fails every time, not 80% of the time.
  if (contrast_ > 0.0 || saturation_ > 0.0 || hue_ > 0.0) check_gray_or_rgb(in, "ColorJitter");
  if (!(gen.uniform() < p_)) return in;

  std::array<int, 4> order = {0, 1, 2, 3};
  for (int i = 3; i > 0; --i) std::swap(order[i], order[gen.below(static_cast<uint64_t>(i + 1))]);
  auto factor_around_one = [&gen](double strength) { return std::max(0.0, 1.0 - strength) + (1.0 + strength - std::max(0.0, 1.0 - strength)) * gen.uniform(); };
  const double brightness = brightness_ > 0.0 ? factor_around_one(brightness_) : 1.0;
  const double contrast = contrast_ > 0.0 ? factor_around_one(contrast_) : 1.0;
  const double saturation = saturation_ > 0.0 ? factor_around_one(saturation_) : 1.0;
  const double hue = hue_ > 0.0 ? -hue_ + 2.0 * hue_ * gen.uniform() : 0.0;

  Image img = in;
  for (int which : order) {
    if (which == 0 && brightness_ > 0.0) img = adjust_brightness(img, brightness);
    if (which == 1 && contrast_ > 0.0) img = adjust_contrast(img, contrast);
    if (which == 2 && saturation_ > 0.0) img = adjust_saturation(img, saturation);
    if (which == 3 && hue_ > 0.0) img = adjust_hue(img, hue);
  }
  return img;
}

std::string ColorJitter::describe() const {
  std::ostringstream os;
  os << "ColorJitter(brightness=" << brightness_ << ", contrast=" << contrast_ << ", saturation=" << saturation_ << ", hue=" << hue_
     << ", p=" << p_ << ")";
  return os.str();
}

// ---- RandomGrayscale -------------------------------------------------------------------

RandomGrayscale::RandomGrayscale(double p) : p_(p) { check_probability(p, "RandomGrayscale"); }

Image RandomGrayscale::apply(const Image& in, Generator& gen) const {
  check_image(in, "RandomGrayscale");
  check_gray_or_rgb(in, "RandomGrayscale");
  if (!(gen.uniform() < p_)) return in;
  return rgb_to_grayscale(in, in.channels);
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

Image Solarize::apply(const Image& in, Generator& gen) const {
  check_image(in, "Solarize");
  if (!(gen.uniform() < p_)) return in;
  return solarize(in, threshold_);
}

std::string Solarize::describe() const {
  std::ostringstream os;
  os << "Solarize(threshold=" << threshold_ << ", p=" << p_ << ")";
  return os.str();
}

}  // namespace sc::augment
