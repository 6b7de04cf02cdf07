#pragma once
// Color transforms: brightness, contrast, saturation, hue (ColorJitter), grayscale,
// solarize. Definitions follow torchvision's functional API on float tensors in [0, 1];
// every result is clamped to [0, 1] where torchvision clamps.
//
// One-channel images: brightness and contrast work; saturation, hue and grayscale leave a
// one-channel image unchanged (as torchvision). Images with 2 or 4+ channels are refused
// by everything but brightness and solarize.
#include <cstdint>
#include <string>

#include "augment/transform.h"
#include "core/augment.h"

namespace sc::augment {

// ---- deterministic forms -----------------------------------------------------------

// The luma weights torchvision's rgb_to_grayscale uses: 0.2989 R + 0.587 G + 0.114 B.
// ITU-R 601-2 rounds the red weight to 0.299; torchvision (and so we, to agree with it
// to float precision) use 0.2989, so pure white maps to 0.9999 rather than 1.
constexpr float kLumaR = kernels::augment_math::kLumaR, kLumaG = kernels::augment_math::kLumaG,
                kLumaB = kernels::augment_math::kLumaB;

// RGB (3 channels) -> luma, returned with `output_channels` = 1 or 3 identical channels.
// A one-channel image is returned unchanged (output_channels must then be 1).
Image rgb_to_grayscale(const Image& in, int64_t output_channels = 1);

// clamp(factor * x, 0, 1): a blend with black. factor >= 0; 1 is the identity.
Image adjust_brightness(const Image& in, double factor);
// clamp(factor * x + (1 - factor) * m, 0, 1) where m is the mean of the grayscale image
// (of the image itself for one channel). factor >= 0; 0 gives a flat gray image.
Image adjust_contrast(const Image& in, double factor);
// clamp(factor * x + (1 - factor) * gray(x), 0, 1) per pixel: a blend with the grayscale
// image. factor >= 0; 0 gives the grayscale image (3 channels). One channel: unchanged.
Image adjust_saturation(const Image& in, double factor);
// RGB -> HSV, hue shifted by `shift` (in turns, in [-0.5, 0.5]) modulo 1, -> RGB.
// One channel: unchanged.
Image adjust_hue(const Image& in, double shift);
// Pixels >= threshold become 1 - x, the others stay. threshold in [0, 1].
Image solarize(const Image& in, double threshold);

// ---- random forms ------------------------------------------------------------------

// torchvision's ColorJitter inside RandomApply(p): with probability p (one uniform draw,
// apply when u < p), draws a random order of the four adjustments (a Fisher-Yates
// permutation), then brightness ~ U[max(0, 1 - b), 1 + b], contrast ~ U[max(0, 1 - c),
// 1 + c], saturation ~ U[max(0, 1 - s), 1 + s], hue ~ U[-h, h] (a zero strength draws
// nothing and skips that adjustment), and applies them in that order.
// Strengths: brightness, contrast, saturation >= 0; hue in [0, 0.5].
class ColorJitter : public Transform {
 public:
  ColorJitter(double brightness, double contrast, double saturation, double hue, double p = 1.0);
  void draw_steps(PlanBuilder& plan, Generator& gen) const override;
  std::string describe() const override;

 private:
  double brightness_, contrast_, saturation_, hue_, p_;
};

// rgb_to_grayscale with probability p (one uniform draw, u < p), keeping 3 channels for RGB
// input so the batch shape does not change. One-channel images pass through.
class RandomGrayscale : public Transform {
 public:
  explicit RandomGrayscale(double p = 0.1);
  void draw_steps(PlanBuilder& plan, Generator& gen) const override;
  std::string describe() const override;

 private:
  double p_;
};

// solarize(threshold) with probability p (one uniform draw, u < p).
class Solarize : public Transform {
 public:
  Solarize(double threshold, double p = 0.5);
  void draw_steps(PlanBuilder& plan, Generator& gen) const override;
  std::string describe() const override;

 private:
  double threshold_, p_;
};

}  // namespace sc::augment
