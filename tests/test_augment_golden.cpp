// The deterministic transforms of augment/ against torchvision 0.14 (Debian): every case
// in tests/golden/augment_*.golden (written by gen_golden_augment.py) holds explicit
// parameters and torchvision's output on a 3x32x32 RGB image and a 1x28x28 gray image;
// we run our function with the same parameters on the same float image and compare.
//
// Set SC_GOLDEN_VERBOSE=1 to print the largest difference of every case.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "augment/augment.h"
#include "tests/golden_io.h"

using namespace sc;
using namespace sc::augment;
using namespace sc::test;

namespace {

const char* const kFiles[] = {"augment_crop_flip.golden", "augment_rotate.golden", "augment_color.golden", "augment_hue_blur.golden"};

Image image_from(const Tensor& t) {
  REQUIRE(t.dim() == 3);
  const std::vector<float> values = t.to_vector<float>();
  Image img(t.shape()[0], t.shape()[1], t.shape()[2]);
  img.pixels = values;
  return img;
}

bool verbose() {
  const char* v = std::getenv("SC_GOLDEN_VERBOSE");
  return v != nullptr && std::strcmp(v, "0") != 0;
}

using Op = std::function<Image(const Image&, const std::vector<double>&)>;

struct OpCheck {
  Op run;
  // Largest |ours - torchvision| allowed per pixel, values in [0, 1] (normalize: ~[-2, 2]).
  double tolerance;
};

int64_t as_int(double v) { return static_cast<int64_t>(std::llround(v)); }

// Tolerances and why (measured worst cases, torchvision 0.14 on x86-64 with -march=native,
// in brackets):
//  - 0 (bit-exact): hflip, solarize, normalize and brightness do the same float32
//    arithmetic as PyTorch, one rounding per step (copy, 1 - x, (x - m) / s, f * x), so
//    anything else is a bug. [0]
//  - rotate 0: nearest-neighbour copies input pixels; we build the sampling grid with the
//    same float32 steps as torchvision, so every pixel picks the same source. One pixel
//    off would show as an error of up to 1 here. [0 on all 11 cases]
//  - rgb_to_grayscale, adjust_saturation 2.5e-7 (~4 units in the last place at 1.0): the
//    same products and sums as PyTorch, but GCC may fuse a * b + c into one FMA (one
//    rounding instead of two; C++ allows it and -march=native has FMA). [1.2e-7]
//  - adjust_contrast 1e-6: the image mean is summed in double by us and pairwise in float32
//    by PyTorch (~1e-7 apart), then blended with weights <= 1.4. [6e-8]
//  - resized_crop 1e-6: the same two-tap formula per axis; PyTorch groups the four
//    products differently: a few float32 roundings of values <= 1. [7.7e-7]
//  - gaussian_blur 1e-6: we apply the 1-D kernel twice (rows, then columns); torchvision
//    convolves once with the 2-D outer product: up to k^2 = 81 float32 roundings apart. [3e-7]
//  - adjust_hue 1e-6: ~15 float32 operations (divisions, fmod, products) per pixel, each
//    rounded at 6e-8. [6e-8]
// A wrong convention (a half-pixel offset, a missing clamp, 0.299 for 0.2989, another
// rounding rule) shows up at 1e-4 or more.
const std::map<std::string, OpCheck>& ops() {
  static const std::map<std::string, OpCheck> table = {
      {"resized_crop",
       {[](const Image& img, const std::vector<double>& p) {
          return resized_crop(img, as_int(p[0]), as_int(p[1]), as_int(p[2]), as_int(p[3]), as_int(p[4]), as_int(p[5]));
        },
        1e-6}},
      {"hflip", {[](const Image& img, const std::vector<double>&) { return hflip(img); }, 0.0}},
      {"rotate",
       {[](const Image& img, const std::vector<double>& p) {
          return rotate(img, p[0], std::vector<float>(p.begin() + 1, p.end()));
        },
        0.0}},
      {"adjust_brightness", {[](const Image& img, const std::vector<double>& p) { return adjust_brightness(img, p[0]); }, 0.0}},
      {"adjust_contrast", {[](const Image& img, const std::vector<double>& p) { return adjust_contrast(img, p[0]); }, 1e-6}},
      {"adjust_saturation", {[](const Image& img, const std::vector<double>& p) { return adjust_saturation(img, p[0]); }, 2.5e-7}},
      {"adjust_hue", {[](const Image& img, const std::vector<double>& p) { return adjust_hue(img, p[0]); }, 1e-6}},
      {"rgb_to_grayscale", {[](const Image& img, const std::vector<double>& p) { return rgb_to_grayscale(img, as_int(p[0])); }, 2.5e-7}},
      {"gaussian_blur", {[](const Image& img, const std::vector<double>& p) { return gaussian_blur(img, as_int(p[0]), p[1]); }, 1e-6}},
      {"solarize", {[](const Image& img, const std::vector<double>& p) { return solarize(img, p[0]); }, 0.0}},
      {"normalize",
       {[](const Image& img, const std::vector<double>& p) {
          const size_t half = p.size() / 2;
          return normalize(img, std::vector<float>(p.begin(), p.begin() + half), std::vector<float>(p.begin() + half, p.end()));
        },
        0.0}},
  };
  return table;
}

}  // namespace

TEST_CASE("augment: deterministic transforms match torchvision (golden files)") {
  std::map<std::string, int> cases_per_op;
  for (const char* file : kFiles) {
    const GoldenFile g = read_golden_file(std::string(SC_GOLDEN_DIR) + "/" + file);
    const std::map<std::string, Image> inputs = {{"rgb", image_from(g.get("input/rgb"))}, {"gray", image_from(g.get("input/gray"))}};
    REQUIRE(inputs.at("rgb").channels == 3);
    REQUIRE(inputs.at("rgb").height == 32);
    REQUIRE(inputs.at("gray").channels == 1);
    REQUIRE(inputs.at("gray").height == 28);
    for (const std::string& case_name : g.cases_with("out")) {
      CAPTURE(file);
      CAPTURE(case_name);
      // "<op>.<image>.<n>"
      const size_t dot1 = case_name.find('.');
      const size_t dot2 = case_name.find('.', dot1 + 1);
      REQUIRE(dot1 != std::string::npos);
      REQUIRE(dot2 != std::string::npos);
      const std::string op = case_name.substr(0, dot1);
      const std::string image_name = case_name.substr(dot1 + 1, dot2 - dot1 - 1);
      REQUIRE(ops().count(op) == 1);
      REQUIRE(inputs.count(image_name) == 1);
      const OpCheck& check = ops().at(op);
      const std::vector<double> params = g.get(case_name + "/params").to_vector<double>();
      const Image expected = image_from(g.get(case_name + "/out"));

      const Image& input = inputs.at(image_name);
      const Image before = input;
      const Image actual = check.run(input, params);
      CHECK(input.pixels == before.pixels);  // the input is never modified
      REQUIRE(actual.channels == expected.channels);
      REQUIRE(actual.height == expected.height);
      REQUIRE(actual.width == expected.width);
      double worst = 0.0;
      int64_t worst_index = 0, failing = 0;
      for (size_t i = 0; i < actual.pixels.size(); ++i) {
        const double diff = std::abs(static_cast<double>(actual.pixels[i]) - expected.pixels[i]);
        if (!(diff <= check.tolerance)) ++failing;  // NaN fails too
        if (!(diff <= worst)) {
          worst = diff;
          worst_index = static_cast<int64_t>(i);
        }
      }
      if (verbose()) MESSAGE(case_name, ": max |ours - torchvision| = ", worst, " (tolerance ", check.tolerance, ")");
      CAPTURE(worst_index);
      CAPTURE(actual.pixels[worst_index]);
      CAPTURE(expected.pixels[worst_index]);
      CHECK_MESSAGE(failing == 0, failing, " pixels of ", actual.pixels.size(), " differ by more than ", check.tolerance, "; worst ", worst);
      ++cases_per_op[op];
    }
  }
  // Every op has cases (a generator edit that drops one would otherwise pass silently).
  for (const auto& op_check : ops()) {
    const auto& op = op_check.first;
    const auto& check = op_check.second;
    CAPTURE(op);
    CHECK(cases_per_op[op] >= 1);
  }
}

TEST_CASE("augment: golden files record the torchvision that wrote them") {
  for (const char* file : kFiles) {
    const GoldenFile g = read_golden_file(std::string(SC_GOLDEN_DIR) + "/" + file);
    CAPTURE(file);
    REQUIRE(g.has("meta/torchvision_version"));
    std::string version;
    for (int64_t c : g.get("meta/torchvision_version").to_vector<int64_t>()) version.push_back(static_cast<char>(c));
    CHECK(version.rfind("0.", 0) == 0);
  }
}
