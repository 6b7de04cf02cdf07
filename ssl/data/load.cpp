#include "ssl/data/load.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "base/error.h"
#include "core/generator.h"
#include "ssl/data/cifar.h"
#include "ssl/data/idx.h"
#include "ssl/data/image_folder.h"
#include "ssl/data/image_resize.h"

namespace fs = std::filesystem;

namespace sc::ssl {

std::pair<Dataset, Dataset> split_validation(const Dataset& dataset, double fraction) {
  SC_CHECK(fraction > 0 && fraction < 1, "--val-fraction must be in (0, 1) to split, got ", fraction);
  SC_CHECK(dataset.labeled(), "--val-fraction: ", dataset.name(),
           " has no labels (no class subfolders), so it has nothing to evaluate on");
  std::vector<std::vector<int64_t>> by_class(static_cast<size_t>(dataset.num_classes()));
  for (int64_t i = 0; i < dataset.size(); ++i) by_class[static_cast<size_t>(dataset.label(i))].push_back(i);
  std::vector<bool> is_test(static_cast<size_t>(dataset.size()), false);
  for (size_t label = 0; label < by_class.size(); ++label) {
    std::vector<int64_t>& members = by_class[label];
    const auto n = static_cast<int64_t>(members.size());
    const int64_t take = std::min(n - 1, static_cast<int64_t>(std::llround(fraction * static_cast<double>(n))));
    Generator gen(mix_seed(kValSplitSeed, label));
    for (int64_t k = n - 1; k > 0; --k)  // Fisher-Yates
      std::swap(members[k], members[static_cast<int64_t>(gen.below(static_cast<uint64_t>(k + 1)))]);
    for (int64_t k = 0; k < take; ++k) is_test[static_cast<size_t>(members[k])] = true;
  }
  std::vector<int64_t> train, test;
  for (int64_t i = 0; i < dataset.size(); ++i) (is_test[static_cast<size_t>(i)] ? test : train).push_back(i);
  SC_CHECK(!test.empty(), "--val-fraction ", fraction, " takes no test image from ", dataset.name(), " (",
           dataset.size(), " images in ", dataset.num_classes(), " classes); raise it");
  return {dataset_select(dataset, train, dataset.name() + " (training part)"),
          dataset_select(dataset, test, dataset.name() + " (--val-fraction part)")};
}

TrainData load_train_data(const std::string& path_in, const DataOptions& options) {
  const std::string path = path_in.empty() ? std::string(kFashionMnistDir) : path_in;
  SC_CHECK(fs::exists(path), "--data: '", path, "' does not exist",
           path_in.empty() ? " (Fashion-MNIST: apt-get install dataset-fashion-mnist)" : "");
  SC_CHECK(fs::is_directory(path), "--data: '", path, "' is not a folder (give a dataset folder)");
  TrainData data;
  const fs::path root(path);
  const ImageFolderOptions folder{options.channels, options.image_size};
  bool has_own_test_split = true;
  if (fs::exists(root / "train-images-idx3-ubyte.gz") || fs::exists(root / "train-images-idx3-ubyte")) {
    data.train = conform_dataset(load_mnist_folder(path, "train"), options.channels, options.image_size);
    data.test = conform_dataset(load_mnist_folder(path, "test"), options.channels, options.image_size);
  } else if (fs::exists(root / "data_batch_1.bin")) {
    data.train = conform_dataset(load_cifar10(path, "train"), options.channels, options.image_size);
    data.test = conform_dataset(load_cifar10(path, "test"), options.channels, options.image_size);
  } else if (fs::is_directory(root / "train") && fs::is_directory(root / "test")) {
    data.train = load_image_folder((root / "train").string(), folder);
    data.test = load_image_folder((root / "test").string(), folder);
    SC_CHECK(data.train.channels() == data.test->channels(), "--data: the images of ", data.train.name(), " have ",
             data.train.channels(), " channel(s) but those of ", data.test->name(), " have ", data.test->channels(),
             "; give --channels 1 or --channels 3 to convert both");
    SC_CHECK(data.train.height() == data.test->height() && data.train.width() == data.test->width(), "--data: the images of ",
             data.train.name(), " are ", data.train.width(), "x", data.train.height(), " (width x height) but those of ",
             data.test->name(), " are ", data.test->width(), "x", data.test->height(),
             "; give --image-size N to bring both to N x N");
  } else {
    data.train = load_image_folder(path, folder);
    has_own_test_split = false;
  }
  if (options.val_fraction > 0) {
    SC_CHECK(!has_own_test_split, "--val-fraction: '", path,
             "' has its own test split; --val-fraction only splits an image folder without train/ and test/");
    auto [train, test] = split_validation(data.train, options.val_fraction);
    data.train = std::move(train);
    data.test = std::move(test);
  }
  if (options.train_subset > 0) data.train = dataset_head(data.train, options.train_subset);
  if (data.test && options.test_subset > 0) data.test = dataset_head(*data.test, options.test_subset);
  return data;
}

TrainData load_train_data(const std::string& path, int64_t train_subset, int64_t test_subset) {
  DataOptions options;
  options.train_subset = train_subset;
  options.test_subset = test_subset;
  return load_train_data(path, options);
}

}  // namespace sc::ssl
