#include "nn/resnet.h"

namespace sc::nn {

BasicBlock::BasicBlock(int64_t in_channels, int64_t out_channels, int64_t stride, Generator& gen)
    : Module("BasicBlock") {
  // Registration order = torchvision's attribute order, so the state_dict order matches too.
  conv1 = register_module("conv1", std::make_shared<Conv2d>(in_channels, out_channels, 3, gen, stride, 1, false));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(out_channels));
  relu = register_module("relu", std::make_shared<ReLU>());
  conv2 = register_module("conv2", std::make_shared<Conv2d>(out_channels, out_channels, 3, gen, 1, 1, false));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(out_channels));
  if (stride != 1 || in_channels != out_channels) {
    downsample = register_module("downsample", std::make_shared<Sequential>());
    downsample->push_back(std::make_shared<Conv2d>(in_channels, out_channels, 1, gen, stride, 0, false));
    downsample->push_back(std::make_shared<BatchNorm2d>(out_channels));
  }
}

Tensor BasicBlock::forward(const Tensor& x) {
  Tensor out = bn1->forward_relu(conv1->forward(x));  // relu(bn1(...)), fused
  out = bn2->forward(conv2->forward(out));
  Tensor shortcut = downsample ? downsample->forward(x) : x;
  return relu->forward(add(out, shortcut));
}

ResNet18::ResNet18(Generator& gen, int64_t in_channels, int64_t base_width)
    : Module("ResNet18"), base_width_(base_width) {
  SC_CHECK(in_channels > 0 && base_width > 0, "ResNet18: in_channels and base_width must be positive, got ",
           in_channels, " and ", base_width);
  conv1 = register_module("conv1", std::make_shared<Conv2d>(in_channels, base_width, 3, gen, 1, 1, false));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(base_width));
  relu = register_module("relu", std::make_shared<ReLU>());
  int64_t channels = base_width;
  auto make_layer = [&](const char* name, int64_t width, int64_t stride) {
    auto layer = register_module(name, std::make_shared<Sequential>());
    layer->push_back(std::make_shared<BasicBlock>(channels, width, stride, gen));
    layer->push_back(std::make_shared<BasicBlock>(width, width, 1, gen));
    channels = width;
    return layer;
  };
  layer1 = make_layer("layer1", base_width, 1);
  layer2 = make_layer("layer2", 2 * base_width, 2);
  layer3 = make_layer("layer3", 4 * base_width, 2);
  layer4 = make_layer("layer4", 8 * base_width, 2);
  avgpool = register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>());
  flatten = register_module("flatten", std::make_shared<Flatten>());
}

Tensor ResNet18::forward(const Tensor& x) {
  Tensor out = bn1->forward_relu(conv1->forward(x));  // relu(bn1(...)), fused
  out = layer4->forward(layer3->forward(layer2->forward(layer1->forward(out))));
  return flatten->forward(avgpool->forward(out));
}

}  // namespace sc::nn
