#include "nn/convnet.h"

namespace sc::nn {

ConvNet::ConvNet(Generator& gen, int64_t width, int64_t in_channels) : Module("ConvNet"), width_(width) {
  SC_CHECK(width > 0 && in_channels > 0, "ConvNet: width and in_channels must be positive, got width ", width,
           ", in_channels ", in_channels);
  features = register_module("features", std::make_shared<Sequential>());
  const int64_t widths[4] = {width, 2 * width, 4 * width, 8 * width};
  int64_t channels = in_channels;
  for (int block = 0; block < 4; ++block) {
    // No conv bias: the BatchNorm right after it subtracts any constant per channel anyway.
    features->push_back(std::make_shared<Conv2d>(channels, widths[block], 3, gen, /*stride=*/1, /*padding=*/1,
                                                 /*bias=*/false));
    features->push_back(std::make_shared<BatchNorm2d>(widths[block]));
    features->push_back(std::make_shared<ReLU>());
    if (block == 1 || block == 2) features->push_back(std::make_shared<MaxPool2d>(2));
    channels = widths[block];
  }
  pool = register_module("pool", std::make_shared<AdaptiveAvgPool2d>());
  flatten = register_module("flatten", std::make_shared<Flatten>());
}

Tensor ConvNet::forward(const Tensor& x) { return flatten->forward(pool->forward(features->forward(x))); }

}  // namespace sc::nn
