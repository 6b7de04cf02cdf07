#pragma once
// IDX files: the format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).
//   magic: 4 bytes, big-endian: 0x00 0x00, type (0x08 = uint8), number of dims
//          -> 0x00000803 for an image file [count, rows, cols], 0x00000801 for labels [count]
//   dims:  one big-endian uint32 per dim
//   data:  the product of the dims, in bytes, and nothing after it.
// Files may be plain or gzip-compressed (recognised by their first bytes, see byte_reader.h).
#include <cstdint>
#include <string>
#include <vector>

#include "ssl/data/dataset.h"

namespace sc::ssl {

inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// One IDX file of uint8 data, checked against `expected_magic` (0x00000803 or 0x00000801):
// the header dims must be non-zero, their product must not overflow nor exceed
// kMaxDataFileBytes, and the file must hold exactly that many bytes after the header.
struct IdxArray {
  std::vector<uint32_t> dims;
  std::vector<uint8_t> data;
};
// `max_item_bytes` > 0 also bounds one item (the product of the dims after the first), checked
// before any data is read: load_idx passes kMaxImagePixels for the images file.
IdxArray read_idx(const std::string& path, uint32_t expected_magic, uint64_t max_item_bytes = 0);

// An images file [count, rows, cols] and a labels file [count] of the same count, every
// label in [0, num_classes). One channel. `name` labels the dataset in messages.
Dataset load_idx(const std::string& images_path, const std::string& labels_path, int64_t num_classes = 10,
                 const std::string& name = "");

// MNIST-layout folder: split "train" reads train-{images-idx3,labels-idx1}-ubyte, split
// "test" reads t10k-...; each name with ".gz" is tried first, then without.
Dataset load_mnist_folder(const std::string& dir, const std::string& split, int64_t num_classes = 10);
// Fashion-MNIST (Debian's dataset-fashion-mnist puts it in kFashionMnistDir): 60,000 train
// and 10,000 test images, 28x28, labels 0-9.
Dataset load_fashion_mnist(const std::string& split, const std::string& dir = kFashionMnistDir);

}  // namespace sc::ssl
