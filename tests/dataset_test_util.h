#pragma once
// A dataset of random gray images for the tests that need images but not real data.
#include <cstdint>
#include <utility>
#include <vector>

#include "core/generator.h"
#include "ssl/data/dataset.h"

namespace sc::test {

// n gray side x side images of random bytes drawn from `seed`; image i has label i % classes.
inline ssl::Dataset random_gray_images(int64_t n, uint64_t seed, int64_t side = 28, int64_t classes = 3) {
  Generator gen(seed);
  std::vector<uint8_t> pixels(static_cast<size_t>(n * side * side));
  for (auto& p : pixels) p = static_cast<uint8_t>(gen.below(256));
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) labels[static_cast<size_t>(i)] = i % classes;
  return ssl::Dataset("random", 1, side, side, std::move(pixels), std::move(labels), classes);
}

}  // namespace sc::test
