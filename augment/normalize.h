#pragma once
// Per-channel standardization, the last step before the network: (x - mean[c]) / std[c].
#include <string>
#include <vector>

#include "augment/transform.h"

namespace sc::augment {

// (x - mean[c]) / std[c] for every pixel of channel c (a division, as torchvision, not a
// multiplication by 1/std, so results agree to the last bit). mean and std hold one value
// per channel; every std must be nonzero.
Image normalize(const Image& in, const std::vector<float>& mean, const std::vector<float>& std);

// normalize() as a Transform; it draws nothing from the generator.
class Normalize : public Transform {
 public:
  Normalize(std::vector<float> mean, std::vector<float> std);
  Image apply(const Image& in, Generator& gen) const override;
  std::string describe() const override;

 private:
  std::vector<float> mean_, std_;
};

}  // namespace sc::augment
