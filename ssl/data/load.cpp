#include "ssl/data/load.h"

#include <filesystem>

#include "base/error.h"
#include "ssl/data/cifar.h"
#include "ssl/data/idx.h"
#include "ssl/data/image_folder.h"

namespace fs = std::filesystem;

namespace sc::ssl {

TrainData load_train_data(const std::string& path_in, int64_t train_subset, int64_t test_subset) {
  const std::string path = path_in.empty() ? std::string(kFashionMnistDir) : path_in;
  SC_CHECK(fs::exists(path), "--data: '", path, "' does not exist",
           path_in.empty() ? " (Fashion-MNIST: apt-get install dataset-fashion-mnist)" : "");
  SC_CHECK(fs::is_directory(path), "--data: '", path, "' is not a folder (give a dataset folder)");
  TrainData data;
  const fs::path root(path);
  if (fs::exists(root / "train-images-idx3-ubyte.gz") || fs::exists(root / "train-images-idx3-ubyte")) {
    data.train = load_mnist_folder(path, "train");
    data.test = load_mnist_folder(path, "test");
  } else if (fs::exists(root / "data_batch_1.bin")) {
    data.train = load_cifar10(path, "train");
    data.test = load_cifar10(path, "test");
  } else if (fs::is_directory(root / "train") && fs::is_directory(root / "test")) {
    data.train = load_image_folder((root / "train").string());
    data.test = load_image_folder((root / "test").string());
  } else {
    data.train = load_image_folder(path);
  }
  if (train_subset > 0) data.train = dataset_head(data.train, train_subset);
  if (data.test && test_subset > 0) data.test = dataset_head(*data.test, test_subset);
  return data;
}

}  // namespace sc::ssl
