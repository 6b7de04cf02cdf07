#pragma once
// ConvNet: the small encoder for 28x28 / 32x32 images.
//
//   4 blocks of conv3x3 (pad 1, no bias) - BatchNorm2d - ReLU, widths w, 2w, 4w, 8w,
//   a 2x2 max-pool after blocks 2 and 3, a global average pool, flatten -> h [N, 8w].
//
// Submodule names (the state_dict keys), mirroring a PyTorch
//   features = nn.Sequential(conv, bn, relu, conv, bn, relu, maxpool, conv, bn, relu, maxpool,
//                            conv, bn, relu); pool = nn.AdaptiveAvgPool2d(1); flatten = nn.Flatten()
// so the parameters are features.{0,3,7,11}.weight (convs) and
// features.{1,4,8,12}.{weight,bias,running_mean,running_var,num_batches_tracked} (BNs).
// tests/golden/gen_golden_nn.py builds exactly this model in PyTorch.
#include <cstdint>
#include <memory>

#include "nn/layers.h"

namespace sc::nn {

class ConvNet : public Module {
 public:
  // width w (32 is the default, 16 the fast CPU setting); in_channels 1 (grey) or 3 (RGB).
  ConvNet(Generator& gen, int64_t width = 32, int64_t in_channels = 3);
  // The two 2x2 max-pools halve the image twice, so it needs H, W >= 4.
  static constexpr int64_t kMinInputSize = 4;
  // x [N, in_channels, H, W] with H, W >= kMinInputSize -> h [N, 8w].
  Tensor forward(const Tensor& x) override;
  int64_t feature_dim() const { return 8 * width_; }
  int64_t width() const { return width_; }

  std::shared_ptr<Sequential> features;
  std::shared_ptr<AdaptiveAvgPool2d> pool;
  std::shared_ptr<Flatten> flatten;

 private:
  int64_t width_;
};

}  // namespace sc::nn
