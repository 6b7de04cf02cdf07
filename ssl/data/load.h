#pragma once
// Which reader a dataset folder needs, decided by what the folder holds.
#include <cstdint>
#include <optional>
#include <string>

#include "ssl/data/dataset.h"

namespace sc::ssl {

// A training split and (optionally) a test split for the kNN monitor and evaluation.
struct TrainData {
  Dataset train;
  std::optional<Dataset> test;
};

// Reads `path` ("" = Fashion-MNIST in kFashionMnistDir):
//   - a folder with train-images-idx3-ubyte(.gz): MNIST layout (ssl/data/idx.h), both splits;
//   - a folder with data_batch_1.bin: CIFAR-10 binary (ssl/data/cifar.h), both splits;
//   - a folder with train/ and test/ subfolders: two image folders (ssl/data/image_folder.h);
//   - any other folder: one image folder (one subfolder per class), no test split.
// Subsets (> 0) keep the first N images of a split.
TrainData load_train_data(const std::string& path, int64_t train_subset = 0, int64_t test_subset = 0);

}  // namespace sc::ssl
