#pragma once
// Small argument checks shared by the transforms (internal to augment/). Every failure is
// an sc::Error that starts with the transform's name and shows the offending value.
#include <cmath>
#include <sstream>
#include <string>

#include "augment/image.h"

namespace sc::augment::detail {

// A well-formed image: positive dims and exactly channels * height * width pixels
// (a default-constructed Image, or one whose pixels were resized by hand, fails here).
inline void check_image(const Image& img, const char* where) {
  SC_CHECK(img.channels > 0 && img.height > 0 && img.width > 0, where, ": the image must have positive channels, height and width, got ",
           img.channels, "x", img.height, "x", img.width);
  SC_CHECK(static_cast<int64_t>(img.pixels.size()) == img.channels * img.height * img.width, where, ": the image is ", img.channels, "x",
           img.height, "x", img.width, " but holds ", img.pixels.size(), " pixels");
}

inline void check_probability(double p, const char* where) {
  SC_CHECK(std::isfinite(p) && p >= 0.0 && p <= 1.0, where, ": probability p must be in [0, 1], got ", p);
}

// "[a, b]" for describe() strings and error messages.
inline std::string range_string(double a, double b) {
  std::ostringstream os;
  os << "[" << a << ", " << b << "]";
  return os.str();
}

}  // namespace sc::augment::detail
