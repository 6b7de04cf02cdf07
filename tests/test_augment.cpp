// augment/: properties of the deterministic transforms that need no reference, the random
// forms' statistics (ranges, frequencies), seed determinism, the presets, the preview PNG,
// and every invalid argument's message. (Agreement with torchvision is in
// tests/test_augment_golden.cpp.)
#include <doctest/doctest.h>

#include <stb_image.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "augment/augment.h"

#include "tests/test_util.h"

using namespace sc;
using namespace sc::test;
using namespace sc::augment;

namespace {

Image random_image(int64_t c, int64_t h, int64_t w, uint64_t seed) {
  Generator gen(seed);
  Image img(c, h, w);
  for (float& v : img.pixels) v = static_cast<float>(gen.uniform());
  return img;
}

// Binomial count check: |count - n p| within 5 standard deviations (a false alarm about
// once in 1.7 million runs; the draws are seeded, so a given build passes or fails for good).
void check_binomial(int64_t count, int64_t n, double p) {
  const double mean = static_cast<double>(n) * p;
  const double sd = std::sqrt(static_cast<double>(n) * p * (1.0 - p));
  CAPTURE(count);
  CAPTURE(mean);
  CHECK(std::abs(static_cast<double>(count) - mean) <= 5.0 * sd);
}

}  // namespace

// ---- deterministic forms: properties ---------------------------------------------------

TEST_CASE("augment: hflip mirrors, twice is the identity") {
  const Image img = random_image(3, 5, 7, 1);
  const Image flipped = hflip(img);
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < 5; ++y)
      for (int64_t x = 0; x < 7; ++x) CHECK(flipped.at(c, y, x) == img.at(c, y, 6 - x));
  CHECK(hflip(flipped).pixels == img.pixels);
}

TEST_CASE("augment: rotate by 0 and 360 is the identity; 90 degrees turns counter-clockwise") {
  for (int64_t size : {28, 7}) {
    CAPTURE(size);
    const Image img = random_image(1, size, size, 2);
    CHECK(rotate(img, 0.0).pixels == img.pixels);
    CHECK(rotate(img, 360.0).pixels == img.pixels);
    // Counter-clockwise as displayed: the right column moves to the top row, i.e.
    // out(y, x) = in(x, size - 1 - y).
    const Image turned = rotate(img, 90.0);
    for (int64_t y = 0; y < size; ++y)
      for (int64_t x = 0; x < size; ++x) CHECK(turned.at(0, y, x) == img.at(0, x, size - 1 - y));
  }
  // Corners uncovered by a 45 degree turn get the fill, per channel.
  const Image rgb = random_image(3, 16, 16, 3);
  const Image out = rotate(rgb, 45.0, {0.25f, 0.5f, 0.75f});
  CHECK(out.at(0, 0, 0) == 0.25f);
  CHECK(out.at(1, 0, 0) == 0.5f);
  CHECK(out.at(2, 15, 15) == 0.75f);
}

TEST_CASE("augment: crop and resize conventions") {
  const Image img = random_image(2, 9, 11, 4);
  // The whole image at its own size is the identity (scale 1: every tap is exact).
  CHECK(resized_crop(img, 0, 0, 9, 11, 9, 11).pixels == img.pixels);
  const Image window = crop(img, 2, 3, 4, 5);
  CHECK(window.at(1, 0, 0) == img.at(1, 2, 3));
  CHECK(window.at(0, 3, 4) == img.at(0, 5, 7));
  // Doubling a 1x2 row with half-pixel centers: output x samples (x + 0.5) / 2 - 0.5, clamped
  // at 0: 0, 0.25, 0.75, 1.25 -> the last clamps to the edge pixel.
  Image row(1, 1, 2);
  row.pixels = {0.0f, 1.0f};
  const Image up = resize_bilinear(row, 1, 4);
  CHECK(up.pixels == std::vector<float>{0.0f, 0.25f, 0.75f, 1.0f});
}

TEST_CASE("augment: color adjustments follow their definitions") {
  const Image rgb = random_image(3, 6, 6, 5);
  const Image gray = random_image(1, 6, 6, 6);
  CHECK(adjust_brightness(rgb, 1.0).pixels == rgb.pixels);
  CHECK(adjust_contrast(rgb, 1.0).pixels == rgb.pixels);
  CHECK(adjust_saturation(rgb, 1.0).pixels == rgb.pixels);
  for (float v : adjust_brightness(rgb, 0.0).pixels) CHECK(v == 0.0f);
  for (float v : adjust_brightness(rgb, 1e9).pixels) CHECK(v == 1.0f);  // clamped (no pixel of `rgb` is below 1e-9)
  // Contrast 0: every pixel becomes the mean of the grayscale image.
  const Image flat = adjust_contrast(gray, 0.0);
  double mean = 0.0;
  for (float v : gray.pixels) mean += v;
  mean /= 36.0;
  for (float v : flat.pixels) CHECK(v == doctest::Approx(mean).epsilon(1e-6));
  // Saturation 0 is the grayscale image in 3 channels.
  CHECK(adjust_saturation(rgb, 0.0).pixels == rgb_to_grayscale(rgb, 3).pixels);
  // A full turn of hue (two half turns) comes back to the start.
  const Image back = adjust_hue(adjust_hue(rgb, 0.5), 0.5);
  for (size_t i = 0; i < rgb.pixels.size(); ++i) CHECK(back.pixels[i] == doctest::Approx(rgb.pixels[i]).epsilon(1e-5));
  // Pure red shifted by a third of a turn is pure green.
  Image red(3, 1, 1);
  red.pixels = {1.0f, 0.0f, 0.0f};
  const Image green = adjust_hue(red, 1.0 / 3.0);
  CHECK(green.pixels[0] == doctest::Approx(0.0).epsilon(1e-6));
  CHECK(green.pixels[1] == doctest::Approx(1.0).epsilon(1e-6));
  CHECK(green.pixels[2] == doctest::Approx(0.0).epsilon(1e-6));
  // Luma weights (torchvision's 0.2989 / 0.587 / 0.114).
  const Image luma = rgb_to_grayscale(red, 1);
  CHECK(luma.pixels[0] == kLumaR);
  // Solarize: >= threshold inverts.
  Image ramp(1, 1, 3);
  ramp.pixels = {0.2f, 0.5f, 0.9f};
  CHECK(solarize(ramp, 0.5).pixels == std::vector<float>{0.2f, 0.5f, 1.0f - 0.9f});
}

TEST_CASE("augment: one-channel images: saturation, hue and grayscale do nothing") {
  const Image gray = random_image(1, 28, 28, 7);
  CHECK(adjust_saturation(gray, 1.7).pixels == gray.pixels);
  CHECK(adjust_hue(gray, 0.3).pixels == gray.pixels);
  CHECK(rgb_to_grayscale(gray, 1).pixels == gray.pixels);
  Generator gen(1);
  CHECK(RandomGrayscale(1.0).apply(gray, gen).pixels == gray.pixels);
  CHECK(ColorJitter(0.0, 0.0, 0.8, 0.5, 1.0).apply(gray, gen).pixels == gray.pixels);
  CHECK(adjust_contrast(gray, 0.5).pixels != gray.pixels);  // contrast does work on one channel
}

TEST_CASE("augment: gaussian blur kernel and constant images") {
  for (int64_t k : {1, 3, 5, 9}) {
    const std::vector<float> kernel = gaussian_kernel1d(k, 1.3);
    double sum = 0.0;
    for (float v : kernel) sum += v;
    CHECK(sum == doctest::Approx(1.0).epsilon(1e-6));
    for (int64_t i = 0; i < k; ++i) CHECK(kernel[i] == kernel[k - 1 - i]);  // symmetric
  }
  // A constant image stays constant (reflect padding adds no border darkening).
  const Image flat(2, 6, 5, 0.3f);
  for (float v : gaussian_blur(flat, 5, 2.0).pixels) CHECK(v == doctest::Approx(0.3).epsilon(1e-6));
  // Kernel size 1 is the identity.
  const Image img = random_image(1, 6, 5, 8);
  CHECK(gaussian_blur(img, 1, 1.0).pixels == img.pixels);
}

// ---- random forms: statistics ----------------------------------------------------------

TEST_CASE("augment: RandomResizedCrop areas, aspect ratios and positions stay in range") {
  struct Setting {
    int64_t height, width;
    double scale_min, scale_max;
  };
  for (const Setting& s : {Setting{28, 28, 0.2, 1.0}, Setting{32, 32, 0.08, 1.0}, Setting{20, 36, 0.3, 0.6}}) {
    CAPTURE(s.height);
    CAPTURE(s.width);
    const RandomResizedCrop rrc(16, s.scale_min, s.scale_max, 3.0 / 4.0, 4.0 / 3.0);
    Generator gen(11);
    const double area = static_cast<double>(s.height * s.width);
    double min_fraction = 2, max_fraction = 0, min_aspect = 10, max_aspect = 0;
    int64_t max_top = 0, max_left = 0, min_top = 1000, min_left = 1000;
    const int draws = 20000;
    for (int i = 0; i < draws; ++i) {
      const CropBox b = rrc.sample_box(s.height, s.width, gen);
      REQUIRE(b.height > 0);
      REQUIRE(b.width > 0);
      REQUIRE(b.top >= 0);
      REQUIRE(b.left >= 0);
      REQUIRE(b.top + b.height <= s.height);
      REQUIRE(b.left + b.width <= s.width);
      // Sides are rounded to whole pixels: the unrounded sides lie within half a pixel, and
      // their product (area) and quotient (aspect) within the requested ranges.
      const double w = static_cast<double>(b.width), h = static_cast<double>(b.height);
      CHECK((w + 0.5) * (h + 0.5) >= s.scale_min * area);
      CHECK((w - 0.5) * (h - 0.5) <= s.scale_max * area);
      CHECK((w + 0.5) / (h - 0.5) >= 3.0 / 4.0);
      CHECK((w - 0.5) / (h + 0.5) <= 4.0 / 3.0);
      min_fraction = std::min(min_fraction, w * h / area);
      max_fraction = std::max(max_fraction, w * h / area);
      min_aspect = std::min(min_aspect, w / h);
      max_aspect = std::max(max_aspect, w / h);
      min_top = std::min(min_top, b.top);
      max_top = std::max(max_top, b.top + b.height);
      min_left = std::min(min_left, b.left);
      max_left = std::max(max_left, b.left + b.width);
    }
    // The draws cover the ranges (not stuck at one value) and reach every border.
    CHECK(min_fraction < s.scale_min + 0.05);
    CHECK(max_fraction > s.scale_max - 0.1);
    CHECK(min_aspect < 0.8);
    CHECK(max_aspect > 1.25);
    CHECK(min_top == 0);
    CHECK(min_left == 0);
    CHECK(max_top == s.height);
    CHECK(max_left == s.width);
  }
}

TEST_CASE("augment: RandomResizedCrop falls back to a centered crop with the ratio clamped") {
  // An area of 2-3 times the image never fits, so all 10 tries fail.
  const RandomResizedCrop never_fits(8, 2.0, 3.0);
  Generator gen(1);
  const CropBox square = never_fits.sample_box(28, 28, gen);
  CHECK((square.top == 0 && square.left == 0 && square.height == 28 && square.width == 28));
  // Wide 10x40 (ratio 4 > 4/3): full height, width round(10 * 4/3) = 13, centered.
  const CropBox wide = never_fits.sample_box(10, 40, gen);
  CHECK((wide.top == 0 && wide.height == 10 && wide.width == 13 && wide.left == 13));
  // Tall 40x10: full width, height round(10 / (3/4)) = 13, centered.
  const CropBox tall = never_fits.sample_box(40, 10, gen);
  CHECK((tall.left == 0 && tall.width == 10 && tall.height == 13 && tall.top == 13));
  // The output always has the requested size.
  const Image out = never_fits.apply(random_image(3, 10, 40, 2), gen);
  CHECK((out.channels == 3 && out.height == 8 && out.width == 8));
}

TEST_CASE("augment: random transforms fire with their probability") {
  const Image img = random_image(3, 8, 8, 12);  // no symmetry: every transform changes it
  const int64_t n = 10000;
  struct Case {
    const char* name;
    TransformPtr transform;
    double p;
  };
  const std::vector<Case> cases = {
      {"HorizontalFlip 0.5", std::make_shared<HorizontalFlip>(0.5), 0.5},
      {"HorizontalFlip 0.1", std::make_shared<HorizontalFlip>(0.1), 0.1},
      {"ColorJitter 0.8", std::make_shared<ColorJitter>(0.4, 0.4, 0.4, 0.1, 0.8), 0.8},
      {"RandomGrayscale 0.2", std::make_shared<RandomGrayscale>(0.2), 0.2},
      {"GaussianBlur 0.5", std::make_shared<GaussianBlur>(3, 0.5, 2.0, 0.5), 0.5},
      {"Solarize 0.3", std::make_shared<Solarize>(0.0, 0.3), 0.3},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    Generator gen(99);
    int64_t changed = 0;
    for (int64_t i = 0; i < n; ++i) changed += c.transform->apply(img, gen).pixels != img.pixels ? 1 : 0;
    check_binomial(changed, n, c.p);
  }
  // p = 0 never fires, p = 1 always does.
  Generator gen(5);
  for (int i = 0; i < 200; ++i) {
    CHECK(HorizontalFlip(0.0).apply(img, gen).pixels == img.pixels);
    CHECK(HorizontalFlip(1.0).apply(img, gen).pixels == hflip(img).pixels);
    CHECK(ColorJitter(0.4, 0.4, 0.4, 0.1, 0.0).apply(img, gen).pixels == img.pixels);
  }
}

TEST_CASE("augment: random parameters stay in their ranges") {
  // Brightness alone on a flat 0.5 image: out = 0.5 * factor, factor in [0.6, 1.4].
  const Image flat(1, 2, 2, 0.5f);
  const ColorJitter brightness(0.4, 0.0, 0.0, 0.0, 1.0);
  Generator gen(3);
  double lo = 10, hi = 0;
  for (int i = 0; i < 5000; ++i) {
    const double factor = brightness.apply(flat, gen).pixels[0] / 0.5;
    lo = std::min(lo, factor);
    hi = std::max(hi, factor);
  }
  CHECK(lo >= 0.6 - 1e-6);
  CHECK(hi <= 1.4 + 1e-6);
  CHECK(lo < 0.62);
  CHECK(hi > 1.38);
  // Rotation angles in [-30, 30]: a single bright pixel right of center moves at most 30
  // degrees around the center.
  Image dot(1, 41, 41, 0.0f);
  dot.at(0, 20, 35) = 1.0f;
  const RandomRotation rotation(30.0);
  double max_angle = 0.0;
  for (int i = 0; i < 2000; ++i) {
    const Image out = rotation.apply(dot, gen);
    for (int64_t y = 0; y < 41; ++y)
      for (int64_t x = 0; x < 41; ++x)
        if (out.at(0, y, x) > 0.5f) max_angle = std::max(max_angle, std::abs(std::atan2(20.0 - y, x - 20.0)) * 180.0 / M_PI);
  }
  CHECK(max_angle <= 30.0 + 4.0);  // + the angular size of one pixel at radius 15
  CHECK(max_angle > 25.0);
}

TEST_CASE("augment: the same generator seed gives the same views") {
  const Image rgb = random_image(3, 32, 32, 13);
  const Image gray = random_image(1, 28, 28, 14);
  for (const std::string& name : preset_names()) {
    CAPTURE(name);
    const TransformPtr t = make_preset(name);
    const Image& in = name == "simclr-rgb" ? rgb : gray;
    Generator a(mix_seed(7, 3, 1)), b(mix_seed(7, 3, 1)), c(mix_seed(7, 3, 2));
    const Image va = t->apply(in, a);
    CHECK(va.pixels == t->apply(in, b).pixels);
    CHECK(va.pixels != t->apply(in, c).pixels);
    CHECK(a.state().s == b.state().s);  // both consumed the same number of draws
  }
}

// ---- presets and Compose -----------------------------------------------------------

TEST_CASE("augment: presets give images of the expected shape in [0, 1]") {
  struct Expect {
    std::string name;
    int64_t channels, in_size, out_size;
  };
  for (const Expect& e : {Expect{"simclr-rgb", 3, 32, 32}, Expect{"simclr-gray", 1, 28, 28}, Expect{"blog", 1, 28, 28}, Expect{"blog", 3, 32, 32}}) {
    CAPTURE(e.name);
    const TransformPtr t = make_preset(e.name);
    CHECK(!t->describe().empty());
    const Image in = random_image(e.channels, e.in_size, e.in_size, 15);
    for (uint64_t s = 0; s < 50; ++s) {
      Generator gen(s);
      const Image out = t->apply(in, gen);
      REQUIRE(out.channels == e.channels);
      REQUIRE(out.height == e.out_size);
      REQUIRE(out.width == e.out_size);
      for (float v : out.pixels) REQUIRE((v >= 0.0f && v <= 1.0f));
    }
  }
  CHECK(contains(make_preset("simclr-rgb")->describe(), "RandomResizedCrop(32, scale=[0.08, 1]"));
  CHECK(contains(make_preset("simclr-gray")->describe(), "ColorJitter(brightness=0.4, contrast=0.4, saturation=0, hue=0, p=0.8)"));
  const std::string unknown = message_of([] { make_preset("simclr"); });
  CHECK(contains(unknown, "unknown augmentation preset 'simclr'"));
  CHECK(contains(unknown, "simclr-rgb, simclr-gray, blog"));
}

TEST_CASE("augment: Compose applies in order and rejects a null transform") {
  const Image img = random_image(1, 4, 6, 16);
  Generator gen(1);
  const Compose twice({std::make_shared<HorizontalFlip>(1.0), std::make_shared<HorizontalFlip>(1.0)});
  CHECK(twice.apply(img, gen).pixels == img.pixels);
  const Compose crop_then_flip({std::make_shared<RandomResizedCrop>(3, 2.0, 3.0), std::make_shared<HorizontalFlip>(1.0)});
  // Never-fitting crop -> centered 4x5 window (ratio 6/4 clamped to 4/3: w = round(4 * 4/3) = 5).
  CHECK(crop_then_flip.apply(img, gen).pixels == hflip(resized_crop(img, 0, 0, 4, 5, 3, 3)).pixels);
  CHECK(Compose({}).apply(img, gen).pixels == img.pixels);
  CHECK(contains(message_of([&] { Compose({nullptr}).apply(img, gen); }), "Compose: transform 0 is null"));
}

// ---- preview ---------------------------------------------------------------------------

TEST_CASE("augment: preview writes a readable PNG grid of the expected size") {
  const std::string path = "augment_preview_test.png";
  std::vector<Image> originals;
  for (uint64_t i = 0; i < 3; ++i) originals.push_back(random_image(1, 28, 28, 20 + i));
  const PreviewLayout layout = write_preview_png(path, originals, *make_preset("simclr-gray"), 42);
  CHECK(layout.scale == 4);
  CHECK(layout.width() == 3 * 28 * 4 + 2 * 2);
  CHECK(layout.height() == 3 * 28 * 4 + 2 * 2);
  int w = 0, h = 0, channels = 0;
  unsigned char* png = stbi_load(path.c_str(), &w, &h, &channels, 0);
  REQUIRE(png != nullptr);
  CHECK(w == layout.width());
  CHECK(h == layout.height());
  CHECK(channels == 1);
  // The first cell is the first original, 4x: source pixel (y, x) at (4y .. 4y+3, 4x .. 4x+3).
  bool original_matches = true;
  for (int y = 0; y < 28 * 4; ++y)
    for (int x = 0; x < 28 * 4; ++x)
      original_matches &= png[y * w + x] == static_cast<unsigned char>(std::lround(originals[0].at(0, y / 4, x / 4) * 255.0f));
  CHECK(original_matches);
  CHECK(png[0 * w + 28 * 4] == 255);  // the gap is white
  stbi_image_free(png);
  std::remove(path.c_str());

  // RGB originals give an RGB PNG.
  const PreviewLayout rgb_layout = write_preview_png(path, {random_image(3, 32, 32, 30)}, *make_preset("simclr-rgb"), 1);
  png = stbi_load(path.c_str(), &w, &h, &channels, 0);
  REQUIRE(png != nullptr);
  CHECK((w == rgb_layout.width() && h == 32 * 4 && channels == 3));
  stbi_image_free(png);
  std::remove(path.c_str());
}

TEST_CASE("augment: preview errors") {
  const auto t = make_preset("simclr-gray");
  const std::vector<Image> one = {random_image(1, 28, 28, 1)};
  const std::string bad_path = "/nonexistent_folder_for_sc_tests/preview.png";
  const std::string unwritable = message_of([&] { write_preview_png(bad_path, one, *t, 1); });
  CHECK(contains(unwritable, "could not write the PNG file"));
  CHECK(contains(unwritable, bad_path));
  CHECK(contains(message_of([&] { write_preview_png("x.png", {}, *t, 1); }), "no images to show"));
  CHECK(contains(message_of([&] { write_preview_png("x.png", {random_image(2, 8, 8, 1)}, *t, 1); }), "image 0 has 2 channels"));
  CHECK(contains(message_of([&] { write_preview_png("x.png", {Image()}, *t, 1); }), "write_preview_png: the image must have positive"));
}

// ---- bad arguments ---------------------------------------------------------------------

TEST_CASE("augment: every invalid parameter gets an sc::Error naming the transform and the value") {
  struct Bad {
    std::function<void()> make;
    std::string expected;
  };
  const Image rgb = random_image(3, 8, 8, 1);
  const Image two = random_image(2, 8, 8, 1);
  const Image gray = random_image(1, 8, 8, 1);
  Generator gen(1);
  const std::vector<Bad> cases = {
      {[] { RandomResizedCrop(0); }, "RandomResizedCrop: size must be positive, got 0"},
      {[] { RandomResizedCrop(8, 0.9, 0.1); }, "RandomResizedCrop: scale must be an ordered range of positive numbers, got [0.9, 0.1]"},
      {[] { RandomResizedCrop(8, 0.0, 1.0); }, "RandomResizedCrop: scale must be an ordered range of positive numbers, got [0, 1]"},
      {[] { RandomResizedCrop(8, 0.5, 1.0, 2.0, 1.0); }, "RandomResizedCrop: ratio must be an ordered range of positive numbers, got [2, 1]"},
      {[] { RandomResizedCrop(8, 0.5, 1.0, -1.0, 1.0); }, "ratio must be an ordered range of positive numbers, got [-1, 1]"},
      {[] { HorizontalFlip(1.5); }, "HorizontalFlip: probability p must be in [0, 1], got 1.5"},
      {[] { HorizontalFlip(-0.1); }, "HorizontalFlip: probability p must be in [0, 1], got -0.1"},
      {[] { RandomRotation(-5.0); }, "RandomRotation: degrees must be >= 0"},
      {[] { RandomRotation(5.0, {}); }, "RandomRotation: fill must hold at least one value"},
      {[] { ColorJitter(-0.1, 0, 0, 0); }, "ColorJitter: brightness must be >= 0, got -0.1"},
      {[] { ColorJitter(0, -1, 0, 0); }, "ColorJitter: contrast must be >= 0, got -1"},
      {[] { ColorJitter(0, 0, -2, 0); }, "ColorJitter: saturation must be >= 0, got -2"},
      {[] { ColorJitter(0, 0, 0, 0.6); }, "ColorJitter: hue must be in [0, 0.5], got 0.6"},
      {[] { ColorJitter(0.4, 0, 0, 0, 1.2); }, "ColorJitter: probability p must be in [0, 1], got 1.2"},
      {[] { RandomGrayscale(2.0); }, "RandomGrayscale: probability p must be in [0, 1], got 2"},
      {[] { GaussianBlur(4); }, "GaussianBlur: kernel_size must be odd and positive, got 4"},
      {[] { GaussianBlur(-3); }, "GaussianBlur: kernel_size must be odd and positive, got -3"},
      {[] { GaussianBlur(3, 0.0, 1.0); }, "GaussianBlur: sigma must be an ordered range of positive numbers, got [0, 1]"},
      {[] { GaussianBlur(3, 2.0, 1.0); }, "GaussianBlur: sigma must be an ordered range of positive numbers, got [2, 1]"},
      {[] { GaussianBlur(3, 0.1, 2.0, 7.0); }, "GaussianBlur: probability p must be in [0, 1], got 7"},
      {[] { Solarize(1.5); }, "Solarize: threshold must be in [0, 1], got 1.5"},
      {[] { Solarize(0.5, -1.0); }, "Solarize: probability p must be in [0, 1], got -1"},
      {[] { Normalize({0.5f}, {0.0f}); }, "Normalize: std[0] must be finite and nonzero, got 0"},
      {[] { Normalize({0.5f, 0.5f}, {0.2f}); }, "Normalize: mean and std need the same nonzero number of values"},
      {[&] { Normalize({0.5f}, {0.2f}).apply(rgb, gen); }, "Normalize: mean and std hold 1 values but the image has 3 channels"},
      {[&] { normalize(gray, {0.5f, 0.5f, 0.5f}, {0.2f, 0.2f, 0.2f}); }, "normalize: mean and std hold 3 values but the image has 1 channels"},
      {[&] { crop(rgb, 4, 4, 5, 2); }, "crop: the window rows [4, 9) x columns [4, 6) does not fit inside the 8x8 image"},
      {[&] { crop(rgb, -1, 0, 2, 2); }, "does not fit inside the 8x8 image"},
      {[&] { resize_bilinear(rgb, 0, 4); }, "resize_bilinear: the output size must be positive, got 0x4"},
      {[&] { rotate(rgb, 10.0, {0.1f, 0.2f}); }, "rotate: fill must hold 1 value or one per channel (3), got 2"},
      {[&] { rotate(rgb, NAN); }, "rotate: the angle must be finite"},
      {[&] { adjust_brightness(rgb, -1.0); }, "adjust_brightness: the factor must be >= 0, got -1"},
      {[&] { adjust_contrast(two, 0.5); }, "adjust_contrast: needs a 1-channel or 3-channel (RGB) image, got 2 channels"},
      {[&] { adjust_saturation(two, 0.5); }, "adjust_saturation: needs a 1-channel or 3-channel (RGB) image, got 2 channels"},
      {[&] { adjust_hue(rgb, 0.7); }, "adjust_hue: the shift must be in [-0.5, 0.5] (turns), got 0.7"},
      {[&] { rgb_to_grayscale(rgb, 2); }, "rgb_to_grayscale: output_channels must be 1 or 3, got 2"},
      {[&] { rgb_to_grayscale(gray, 3); }, "rgb_to_grayscale: a 1-channel image stays 1-channel"},
      {[&] { solarize(rgb, -0.5); }, "solarize: the threshold must be in [0, 1], got -0.5"},
      {[&] { gaussian_blur(rgb, 3, 0.0); }, "gaussian_blur: sigma must be > 0, got 0"},
      {[&] { gaussian_blur(rgb, 17, 1.0); }, "gaussian_blur: reflect padding needs kernel_size / 2 (8) smaller than the image's height and width, got 8x8"},
      {[&] { ColorJitter(0.4, 0.4, 0, 0, 0.0).apply(two, gen); }, "ColorJitter: needs a 1-channel or 3-channel (RGB) image, got 2 channels"},
      {[&] { RandomGrayscale(0.5).apply(two, gen); }, "RandomGrayscale: needs a 1-channel or 3-channel (RGB) image, got 2 channels"},
      {[&] { HorizontalFlip(0.5).apply(Image(), gen); }, "HorizontalFlip: the image must have positive channels, height and width, got 0x0x0"},
      {[&] {
         Image broken(1, 4, 4);
         broken.pixels.resize(3);
         hflip(broken);
       },
       "hflip: the image is 1x4x4 but holds 3 pixels"},
  };
  for (const Bad& b : cases) {
    CAPTURE(b.expected);
    const std::string message = message_of(b.make);
    CAPTURE(message);
    CHECK(contains(message, b.expected));
  }
}
