// Example 3: an MLP on Fashion-MNIST, the first real training loop.
//
// 28x28 grey images of clothes, 10 classes. The model flattens each image to 784 numbers and
// applies Linear(784 -> 256), ReLU, Linear(256 -> 10); cross_entropy compares the 10 scores with
// the label. One step is always the same four lines: zero the gradients, forward to a loss,
// backward(), optimizer step. nn::Module collects the parameters with their names, so the
// optimizer needs no list written by hand. Expect about 84% test accuracy after 2 epochs, in
// seconds: an MLP sees pixels, not shapes; example 4 does better with convolutions.
//
//   example_03_mlp_fashion_mnist [--epochs 2] [--train-images 60000] [--test-images 10000]
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <string>

#include "core/ops.h"
#include "nn/layers.h"
#include "nn/sgd.h"
#include "ssl/data/load.h"
#include "ssl/data/two_view.h"

using namespace sc;

int main(int argc, char** argv) {
  int64_t epochs = 2, train_images = 60000, test_images = 10000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int64_t value = std::atoll(argv[i + 1]);
    if (flag == "--epochs") epochs = value;
    else if (flag == "--train-images") train_images = value;
    else if (flag == "--test-images") test_images = value;
    else return std::fprintf(stderr, "unknown flag %s\n", argv[i]), 2;
  }
  const ssl::TrainData data = ssl::load_train_data("", train_images, test_images);  // "": Fashion-MNIST
  std::printf("train %lld images, test %lld, each %lldx%lldx%lld\n", static_cast<long long>(data.train.size()),
              static_cast<long long>(data.test->size()), static_cast<long long>(data.train.channels()),
              static_cast<long long>(data.train.height()), static_cast<long long>(data.train.width()));

  Generator gen(0);
  nn::Sequential model;
  model.push_back(std::make_shared<nn::Flatten>());  // [n, 1, 28, 28] -> [n, 784], a view
  model.push_back(std::make_shared<nn::Linear>(784, 256, gen));
  model.push_back(std::make_shared<nn::ReLU>());
  model.push_back(std::make_shared<nn::Linear>(256, 10, gen));

  nn::ParamGroup group;
  for (const auto& [name, parameter] : model.named_parameters()) {  // "1.weight", "1.bias", "3.weight", ...
    group.names.push_back(name);
    group.params.push_back(parameter);
  }
  group.lr = 0.05;
  nn::SGDOptions sgd;
  sgd.momentum = 0.9;
  nn::SGD optimizer({group}, sgd);

  // Mini-batches of 128 in a new random order every epoch.
  const int64_t batch_size = 128, n = data.train.size();
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[gen.below(static_cast<uint64_t>(i + 1))]);
    double loss_sum = 0;
    int64_t steps = 0;
    for (int64_t begin = 0; begin + batch_size <= n; begin += batch_size, ++steps) {
      const std::vector<int64_t> indices(order.begin() + begin, order.begin() + begin + batch_size);
      const ssl::Batch batch = ssl::make_plain_batch(data.train, indices);
      optimizer.zero_grad();
      const Tensor loss = cross_entropy(model(batch.images), batch.labels);
      loss.backward();
      optimizer.step();
      loss_sum += loss.item();
    }
    std::printf("epoch %lld: mean training loss %.4f over %lld steps\n", static_cast<long long>(epoch + 1),
                loss_sum / static_cast<double>(steps), static_cast<long long>(steps));
  }

  // Test accuracy: the class with the highest score, compared with the label; no graph needed.
  NoGradGuard no_grad;
  std::vector<int64_t> everything(static_cast<size_t>(data.test->size()));
  std::iota(everything.begin(), everything.end(), 0);
  const ssl::Batch test = ssl::make_plain_batch(*data.test, everything);  // [10000, 1, 28, 28] in [0, 1]
  const Tensor predicted = argmax(model(test.images), 1);
  const double accuracy = mean(eq(predicted.to(DType::Float32), test.labels.to(DType::Float32))).item();
  std::printf("test accuracy %.2f%% on %lld images\n", 100 * accuracy, static_cast<long long>(data.test->size()));
  return 0;
}
