#pragma once
// Geometric transforms: crop + resize, horizontal flip, rotation.
//
// Each comes twice: a deterministic function taking every parameter explicitly (checked
// against torchvision's functional API by tests/test_augment_golden.cpp), and a Transform
// class that draws those parameters from a Generator the way torchvision's get_params
// does, then calls the function.
#include <cstdint>
#include <string>
#include <vector>

#include "augment/transform.h"

namespace sc::augment {

// ---- deterministic forms -----------------------------------------------------------

// The window rows [top, top + height), columns [left, left + width) of `in`; it must lie
// inside the image (torchvision would zero-pad outside it; we refuse instead).
Image crop(const Image& in, int64_t top, int64_t left, int64_t height, int64_t width);

// Bilinear resize to out_height x out_width, as torch.nn.functional.interpolate(mode=
// "bilinear", align_corners=False, antialias=False), i.e. torchvision's resize on tensors
// with antialias off.
// Convention (half-pixel centers): output pixel x samples the input at
//   src = (x + 0.5) * (in_width / out_width) - 0.5, clamped below at 0,
// between pixels floor(src) and floor(src) + 1 (the last pixel repeats at the right edge),
// weighted by the fractional part. Rows likewise. No antialiasing: a strong downscale
// skips pixels instead of averaging them. Computed in float32 as PyTorch does.
Image resize_bilinear(const Image& in, int64_t out_height, int64_t out_width);

// crop() then resize_bilinear(): torchvision's resized_crop(img, top, left, height, width,
// [out_height, out_width], BILINEAR, antialias=False).
Image resized_crop(const Image& in, int64_t top, int64_t left, int64_t height, int64_t width, int64_t out_height, int64_t out_width);

// Mirrors left to right (torchvision's hflip).
Image hflip(const Image& in);

// Rotates about the image center by `degrees`, COUNTER-CLOCKWISE as the image is displayed
// (rows going down), like torchvision's rotate(img, angle) with expand=False, center=None.
// Nearest-neighbour sampling (torchvision's default for tensors): output pixel (x, y),
// at offset (u, v) = (x + 0.5 - W/2, y + 0.5 - H/2) from the center, takes the input pixel
// nearest to (cos(a) u - sin(a) v, sin(a) u + cos(a) v) + (W/2 - 0.5, H/2 - 0.5), ties
// rounded to even (std::nearbyint, as grid_sample). Pixels whose source falls outside the
// image get `fill`: one value for every channel, or one value per channel.
// The sampling grid is computed in float32 in the same order as torchvision so that the
// nearest pixel agrees with it (see tests/test_augment_golden.cpp for how exactly).
Image rotate(const Image& in, double degrees, const std::vector<float>& fill = {0.0f});

// ---- random forms ------------------------------------------------------------------

// A crop window: rows [top, top + height), columns [left, left + width).
struct CropBox {
  int64_t top = 0, left = 0, height = 0, width = 0;
};

// torchvision's RandomResizedCrop: a window whose area is a random fraction `scale` of the
// image and whose aspect ratio (width / height) is log-uniform in `ratio`, resized to
// size x size with resize_bilinear().
class RandomResizedCrop : public Transform {
 public:
  RandomResizedCrop(int64_t size, double scale_min = 0.08, double scale_max = 1.0, double ratio_min = 3.0 / 4.0, double ratio_max = 4.0 / 3.0);
  void draw_steps(PlanBuilder& plan, Generator& gen) const override;
  std::string describe() const override;

  // The window for an image of height x width, drawn as torchvision's get_params: up to
  // 10 tries of (area fraction ~ U(scale), log aspect ~ U(log ratio)), sides rounded half
  // to even (Python's round); the first window that fits is placed uniformly at random.
  // If none fits: the largest centered window whose aspect is clamped into `ratio`.
  CropBox sample_box(int64_t height, int64_t width, Generator& gen) const;

 private:
  int64_t size_;
  double scale_min_, scale_max_, ratio_min_, ratio_max_;
};

// Flips with probability p (one uniform draw per call, flip when u < p).
class HorizontalFlip : public Transform {
 public:
  explicit HorizontalFlip(double p = 0.5);
  void draw_steps(PlanBuilder& plan, Generator& gen) const override;
  std::string describe() const override;

 private:
  double p_;
};

// Rotates by an angle drawn uniformly from [-degrees, degrees] (one draw per call), filling
// uncovered pixels with `fill` (one value, or one per channel).
class RandomRotation : public Transform {
 public:
  explicit RandomRotation(double degrees, std::vector<float> fill = {0.0f});
  Image apply(const Image& in, Generator& gen) const override;
  void draw_steps(PlanBuilder& plan, Generator& gen) const override;
  std::string describe() const override;

 private:
  double draw_angle(int64_t channels, Generator& gen) const;
  double degrees_;
  std::vector<float> fill_;
};

}  // namespace sc::augment
