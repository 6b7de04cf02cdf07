#include "augment/blur.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <sstream>

#include "augment/checks.h"
#include "augment/plan.h"
#include "core/augment.h"

namespace sc::augment {

using detail::check_image;
using detail::check_probability;
using detail::range_string;

namespace {

void check_kernel_size(int64_t kernel_size, const char* where) {
  SC_CHECK(kernel_size > 0 && kernel_size % 2 == 1, where, ": kernel_size must be odd and positive, got ", kernel_size);
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
  const std::vector<float> taps = gaussian_kernel1d(kernel_size, sigma);
  Image out(in.channels, in.height, in.width);
  blur_image_cpu(in.pixels.data(), in.channels, in.height, in.width, taps.data(), kernel_size, out.pixels.data());
  return out;
}

GaussianBlur::GaussianBlur(int64_t kernel_size, double sigma_min, double sigma_max, double p)
    : kernel_size_(kernel_size), sigma_min_(sigma_min), sigma_max_(sigma_max), p_(p) {
  check_kernel_size(kernel_size, "GaussianBlur");
  SC_CHECK(std::isfinite(sigma_min) && std::isfinite(sigma_max) && sigma_min > 0.0 && sigma_min <= sigma_max,
           "GaussianBlur: sigma must be an ordered range of positive numbers, got ", range_string(sigma_min, sigma_max));
  check_probability(p, "GaussianBlur");
}

std::optional<double> GaussianBlur::draw_sigma(Generator& gen) const {
  if (!(gen.uniform() < p_)) return std::nullopt;
  return sigma_min_ + (sigma_max_ - sigma_min_) * gen.uniform();
}

// Kernels of more taps than a step holds run here directly; the steps would refuse them.
Image GaussianBlur::apply(const Image& in, Generator& gen) const {
  check_image(in, "GaussianBlur");
  const std::optional<double> sigma = draw_sigma(gen);
  return sigma ? gaussian_blur(in, kernel_size_, *sigma) : in;
}

void GaussianBlur::draw_steps(PlanBuilder& plan, Generator& gen) const {
  SC_CHECK(kernel_size_ <= kernels::kAugmentMaxWeights, "GaussianBlur: a plan holds kernels of at most ", kernels::kAugmentMaxWeights,
           " taps, got kernel_size ", kernel_size_, " (augment on the CPU for a larger blur)");
  const std::optional<double> sigma = draw_sigma(gen);
  if (!sigma) return;
  SC_CHECK(kernel_size_ / 2 < plan.height() && kernel_size_ / 2 < plan.width(), "GaussianBlur: reflect padding needs kernel_size / 2 (",
           kernel_size_ / 2, ") smaller than the image's height and width, got ", plan.height(), "x", plan.width());
  kernels::AugmentStep s;
  s.kind = kernels::AugmentStepKind::Blur;
  s.kernel_size = static_cast<int32_t>(kernel_size_);
  const std::vector<float> taps = gaussian_kernel1d(kernel_size_, *sigma);
  std::copy(taps.begin(), taps.end(), s.weights);
  plan.add(s);
}

std::string GaussianBlur::describe() const {
  std::ostringstream os;
  os << "GaussianBlur(kernel_size=" << kernel_size_ << ", sigma=" << range_string(sigma_min_, sigma_max_) << ", p=" << p_ << ")";
  return os.str();
}

}  // namespace sc::augment
