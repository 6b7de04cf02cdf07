#include "augment/blur.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "augment/checks.h"

namespace sc::augment {

using detail::check_image;
using detail::check_probability;
using detail::range_string;

namespace {

void check_kernel_size(int64_t kernel_size, const char* where) {
  SC_CHECK(kernel_size > 0 && kernel_size % 2 == 1, where, ": kernel_size must be odd and positive, got ", kernel_size);
}

// Reflect padding: -1 -> 1, n -> n - 2 (valid while the overhang is smaller than n).
int64_t reflect(int64_t i, int64_t n) {
  if (i < 0) return -i;
  if (i >= n) return 2 * (n - 1) - i;
  return i;
}

}  // namespace

std::vector<float> gaussian_kernel1d(int64_t kernel_size, double sigma) {
  check_kernel_size(kernel_size, "gaussian_kernel1d");
  SC_CHECK(std::isfinite(sigma) && sigma > 0.0, "gaussian_kernel1d: sigma must be > 0, got ", sigma);
  const float sigma_f = static_cast<float>(sigma);
  const int64_t half = kernel_size / 2;
  std::vector<float> kernel(kernel_size);
  float sum = 0.0f;
  for (int64_t i = 0; i < kernel_size; ++i) {
    const float x = static_cast<float>(i - half) / sigma_f;
    kernel[i] = std::exp(-0.5f * x * x);
    sum += kernel[i];
  }
  for (float& k : kernel) k /= sum;
  return kernel;
}

Image gaussian_blur(const Image& in, int64_t kernel_size, double sigma) {
  check_image(in, "gaussian_blur");
  check_kernel_size(kernel_size, "gaussian_blur");
  SC_CHECK(std::isfinite(sigma) && sigma > 0.0, "gaussian_blur: sigma must be > 0, got ", sigma);
  const int64_t half = kernel_size / 2;
  SC_CHECK(half < in.height && half < in.width, "gaussian_blur: reflect padding needs kernel_size / 2 (", half,
           ") smaller than the image's height and width, got ", in.height, "x", in.width);
  const std::vector<float> kernel = gaussian_kernel1d(kernel_size, sigma);
  const int64_t h = in.height, w = in.width;

  // Separable: rows first into `tmp`, then columns. Each row is copied once into a buffer
  // padded by reflection, so the inner loops run over plain arrays (and vectorize); each
  // output still sums its taps in kernel order.
  std::vector<float> padded(static_cast<size_t>(w + 2 * half));
  std::vector<float> tmp(static_cast<size_t>(h * w));
  Image out(in.channels, h, w);
  for (int64_t c = 0; c < in.channels; ++c) {
    const float* plane = &in.pixels[c * h * w];
    for (int64_t y = 0; y < h; ++y) {
      const float* row = plane + y * w;
      for (int64_t x = -half; x < w + half; ++x) padded[x + half] = row[reflect(x, w)];
      float* tmp_row = &tmp[y * w];
      std::fill(tmp_row, tmp_row + w, 0.0f);
      for (int64_t k = 0; k < kernel_size; ++k) {
        const float weight = kernel[k];
        const float* src = &padded[k];
        for (int64_t x = 0; x < w; ++x) tmp_row[x] += weight * src[x];
      }
    }
    float* dst = &out.pixels[c * h * w];
    for (int64_t y = 0; y < h; ++y) {
      float* out_row = dst + y * w;
      std::fill(out_row, out_row + w, 0.0f);
      for (int64_t k = 0; k < kernel_size; ++k) {
        const float* src_row = &tmp[reflect(y + k - half, h) * w];
        const float weight = kernel[k];
        for (int64_t x = 0; x < w; ++x) out_row[x] += weight * src_row[x];
      }
    }
  }
  return out;
}

GaussianBlur::GaussianBlur(int64_t kernel_size, double sigma_min, double sigma_max, double p)
    : kernel_size_(kernel_size), sigma_min_(sigma_min), sigma_max_(sigma_max), p_(p) {
  check_kernel_size(kernel_size, "GaussianBlur");
  SC_CHECK(std::isfinite(sigma_min) && std::isfinite(sigma_max) && sigma_min > 0.0 && sigma_min <= sigma_max,
           "GaussianBlur: sigma must be an ordered range of positive numbers, got ", range_string(sigma_min, sigma_max));
  check_probability(p, "GaussianBlur");
}

Image GaussianBlur::apply(const Image& in, Generator& gen) const {
  check_image(in, "GaussianBlur");
  if (!(gen.uniform() < p_)) return in;
  const double sigma = sigma_min_ + (sigma_max_ - sigma_min_) * gen.uniform();
  return gaussian_blur(in, kernel_size_, sigma);
}

std::string GaussianBlur::describe() const {
  std::ostringstream os;
  os << "GaussianBlur(kernel_size=" << kernel_size_ << ", sigma=" << range_string(sigma_min_, sigma_max_) << ", p=" << p_ << ")";
  return os.str();
}

}  // namespace sc::augment
