#pragma once
// The image type every transform works on: float, CHW (channels, height, width),
// values in [0, 1] until Normalize. Datasets keep uint8 and convert one image at a time.
#include <cstdint>
#include <vector>

#include "base/error.h"

namespace sc::augment {

struct Image {
  int64_t channels = 0, height = 0, width = 0;
  std::vector<float> pixels;  // pixels[(c * height + y) * width + x]

  Image() = default;
  Image(int64_t c, int64_t h, int64_t w, float fill = 0.0f) : channels(c), height(h), width(w), pixels(c * h * w, fill) {
    SC_CHECK(c > 0 && h > 0 && w > 0, "Image: channels, height and width must be positive, got ", c, "x", h, "x", w);
  }

  float& at(int64_t c, int64_t y, int64_t x) { return pixels[(c * height + y) * width + x]; }
  float at(int64_t c, int64_t y, int64_t x) const { return pixels[(c * height + y) * width + x]; }

  // uint8 CHW -> float in [0, 1] (x / 255), as torchvision's ToTensor.
  static Image from_u8(const uint8_t* chw, int64_t c, int64_t h, int64_t w) {
    Image img(c, h, w);
    for (int64_t i = 0; i < c * h * w; ++i) img.pixels[i] = chw[i] / 255.0f;
    return img;
  }
};

}  // namespace sc::augment
