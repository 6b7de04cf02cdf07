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
  // Labeled images for the kNN monitor's bank when `train` has none (an unlabeled folder
  // trained with --eval-data): the eval data's training split. Empty otherwise.
  std::optional<Dataset> knn_bank;
};

// How the images are read: the flags --channels, --image-size, --val-fraction and the subsets.
struct DataOptions {
  int64_t train_subset = 0;   // > 0: the first N images of the training split
  int64_t test_subset = 0;    // > 0: the first N images of the test split
  int channels = 0;           // 0: as the data holds; 1 or 3: converted (ssl/data/image_resize.h)
  int64_t image_size = 0;     // 0: the data's own size; N: every image N x N
  double val_fraction = 0.0;  // > 0: a labeled image folder without train/ and test/ gives
                              // this fraction of each class as the test split
};

// The seed of the --val-fraction split. Fixed, not the run seed: a run's test images are
// the same whatever --seed, and `simclr eval` finds them again from the folder alone.
inline constexpr uint64_t kValSplitSeed = 0x76616c2d73706c74ULL;  // "val-splt"

// Reads `path` ("" = Fashion-MNIST in kFashionMnistDir):
//   - a folder with train-images-idx3-ubyte(.gz): MNIST layout (ssl/data/idx.h), both splits;
//   - a folder with data_batch_1.bin: CIFAR-10 binary (ssl/data/cifar.h), both splits;
//   - a folder with train/ and test/ subfolders: two image folders (ssl/data/image_folder.h);
//   - any other folder: one image folder, labeled (class subfolders) or unlabeled (images
//     directly in it); no test split unless --val-fraction splits a labeled one.
// Every split is brought to options.channels and options.image_size. Subsets keep the first
// N images of a split (after the --val-fraction split).
TrainData load_train_data(const std::string& path, const DataOptions& options);
TrainData load_train_data(const std::string& path, int64_t train_subset = 0, int64_t test_subset = 0);

// `dataset`'s test split by --val-fraction: in each class, round(fraction x its images)
// (at most all but one) chosen by a shuffle seeded with kValSplitSeed; both parts keep the
// dataset's order. Throws when the fraction selects no image at all.
std::pair<Dataset, Dataset> split_validation(const Dataset& dataset, double fraction);

}  // namespace sc::ssl
