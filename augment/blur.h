#pragma once
// Gaussian blur: a deterministic form and a random one (random sigma, applied with
// probability p), following torchvision's gaussian_blur on tensors.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "augment/transform.h"

namespace sc::augment {

// The normalized 1-D kernel: exp(-x^2 / (2 sigma^2)) at x = -(k-1)/2 ... (k-1)/2, divided
// by its sum (float32, as torchvision). kernel_size odd and > 0, sigma > 0.
std::vector<float> gaussian_kernel1d(int64_t kernel_size, double sigma);

// Blurs every channel with the kernel_size x kernel_size Gaussian of standard deviation
// `sigma` (the outer product of gaussian_kernel1d with itself, applied as two 1-D passes).
// Borders use reflect padding (mirror without repeating the edge pixel: index -1 reads
// index 1), as torchvision, so kernel_size / 2 must be smaller than the height and width.
Image gaussian_blur(const Image& in, int64_t kernel_size, double sigma);

// With probability p (one uniform draw, u < p): sigma ~ U[sigma_min, sigma_max] (one more
// draw), then gaussian_blur. torchvision's GaussianBlur is the case p = 1.
class GaussianBlur : public Transform {
 public:
  GaussianBlur(int64_t kernel_size, double sigma_min = 0.1, double sigma_max = 2.0, double p = 1.0);
  Image apply(const Image& in, Generator& gen) const override;
  void draw_steps(PlanBuilder& plan, Generator& gen) const override;
  std::string describe() const override;

 private:
  std::optional<double> draw_sigma(Generator& gen) const;
  int64_t kernel_size_;
  double sigma_min_, sigma_max_, p_;
};

}  // namespace sc::augment
