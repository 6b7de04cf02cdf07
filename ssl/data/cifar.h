#pragma once
// CIFAR-10 and CIFAR-100 "binary version" batches (https://www.cs.toronto.edu/~kriz/cifar.html).
// A file is a run of fixed-size records, no header:
//   CIFAR-10:  1 label byte (0-9),                          then 3072 pixel bytes
//   CIFAR-100: 1 coarse label byte (0-19), 1 fine (0-99),   then 3072 pixel bytes
// The pixels are 32x32 red, then green, then blue, rows top to bottom: already CHW.
// Files may be plain or gzip-compressed (byte_reader.h).
#include <string>
#include <vector>

#include "ssl/data/dataset.h"

namespace sc::ssl {

enum class CifarKind {
  Cifar10,          // label byte 0-9
  Cifar100Fine,     // both label bytes checked, the fine one (0-99) used
  Cifar100Coarse,   // both label bytes checked, the coarse one (0-19) used
};

// Reads and concatenates the given batch files, in order. Each file's size must be a
// positive multiple of the record size; every label byte must be in range.
Dataset load_cifar_files(const std::vector<std::string>& files, CifarKind kind, const std::string& name);

// A CIFAR-10 folder (cifar-10-batches-bin): split "train" reads data_batch_1.bin ..
// data_batch_5.bin (50,000 images), "test" reads test_batch.bin (10,000).
Dataset load_cifar10(const std::string& dir, const std::string& split);
// A CIFAR-100 folder (cifar-100-binary): split "train" reads train.bin, "test" test.bin.
Dataset load_cifar100(const std::string& dir, const std::string& split, bool coarse_labels = false);

}  // namespace sc::ssl
