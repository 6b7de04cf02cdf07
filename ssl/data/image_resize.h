#pragma once
// Bringing images of any size and channel count to the one size and channel count a run
// uses (--image-size, --channels).
//
// The size policy, the one torchvision's Resize(N) + CenterCrop(N) follows: the shorter side
// is scaled to N (the aspect ratio kept), and the middle N x N of the result is kept. The
// resampling is bilinear, and antialiased when shrinking (a triangle filter stretched by the
// shrink factor, as PIL's and torchvision's bilinear resize with antialias), so a 4000-pixel
// photo brought to 32 averages its pixels instead of skipping most of them. Values are
// rounded to the nearest uint8.
#include <cstdint>
#include <span>
#include <vector>

#include "ssl/data/dataset.h"

namespace sc::ssl {

// One uint8 CHW image of channels x height x width to channels x size x size, by the policy
// above. An image already size x size comes back unchanged.
std::vector<uint8_t> resize_shorter_side_center_crop(std::span<const uint8_t> chw, int64_t channels, int64_t height,
                                                     int64_t width, int64_t size);

// uint8 CHW gray <-> RGB: gray is replicated; RGB becomes its luma (77 R + 150 G + 29 B) / 256,
// the rule the image decoder uses (ssl/data/image_decode.cpp).
std::vector<uint8_t> convert_channels_chw(std::span<const uint8_t> chw, int64_t from_channels, int64_t to_channels,
                                          int64_t plane);

// `dataset` with every image brought to `channels` (0: keep) and `image_size` x `image_size`
// (0: keep); the labels and the name stay. Used for the MNIST and CIFAR readers, whose
// images come in one size; image folders convert each image as it is decoded.
Dataset conform_dataset(const Dataset& dataset, int64_t channels, int64_t image_size);

}  // namespace sc::ssl
