#pragma once
// ResNet-18 with the CIFAR stem, returning the pooled feature vector h [N, 8 * base].
//
//   conv1 3x3 stride 1 pad 1 (no bias) - bn1 - relu         (no max-pool: small images)
//   layer1..layer4: two BasicBlocks each, widths base, 2b, 4b, 8b, first-block strides 1, 2, 2, 2
//   avgpool (global) - flatten
//
// BasicBlock: conv1 3x3 (stride s) - bn1 - relu - conv2 3x3 - bn2, plus the shortcut
// (identity, or downsample = 1x1 conv stride s + BN when the shape changes), then relu.
// Names follow torchvision's resnet18 (conv1, bn1, layer1.0.conv1, layer2.0.downsample.0,
// layer2.0.downsample.1, ...) without the final fc, so its state_dict keys line up.
#include <cstdint>
#include <memory>

#include "nn/layers.h"

namespace sc::nn {

class BasicBlock : public Module {
 public:
  BasicBlock(int64_t in_channels, int64_t out_channels, int64_t stride, Generator& gen);
  Tensor forward(const Tensor& x) override;

  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;
  std::shared_ptr<ReLU> relu;
  std::shared_ptr<Conv2d> conv2;
  std::shared_ptr<BatchNorm2d> bn2;
  std::shared_ptr<Sequential> downsample;  // null when the block keeps the shape
};

class ResNet18 : public Module {
 public:
  ResNet18(Generator& gen, int64_t in_channels = 3, int64_t base_width = 64);
  // x [N, in_channels, H, W] -> h [N, 8 * base_width].
  Tensor forward(const Tensor& x) override;
  int64_t feature_dim() const { return 8 * base_width_; }

  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;
  std::shared_ptr<ReLU> relu;
  std::shared_ptr<Sequential> layer1, layer2, layer3, layer4;
  std::shared_ptr<AdaptiveAvgPool2d> avgpool;
  std::shared_ptr<Flatten> flatten;

 private:
  int64_t base_width_;
};

}  // namespace sc::nn
