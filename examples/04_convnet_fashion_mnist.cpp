// Example 4: a supervised ConvNet on Fashion-MNIST, the SimCLR encoder trained with labels.
//
// The encoder is the same nn::ConvNet (width 16) that `simclr train` pre-trains without labels;
// here a Linear(128 -> 10) classifier sits on it and both learn from the 60,000 labelled
// training images. Its test accuracy (about 91%) is the ceiling to compare the self-supervised
// table with: that encoder never sees a label and is only probed linearly afterwards.
//
// New here, after the MLP of example 3: a real encoder (conv, BatchNorm, pooling), the Loader
// building shuffled batches on a worker thread, a warmup + cosine learning-rate schedule, and
// BatchNorm's two modes: batch statistics while training, running statistics in eval(), which
// are recomputed with the final weights before the test.
//
//   example_04_convnet_fashion_mnist [--epochs 3] [--train-images 60000] [--test-images 10000]
// CI runs it with --epochs 1 --train-images 4000 --test-images 2000 (well under a minute).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <string>
#include <vector>

#include "core/ops.h"
#include "nn/adam.h"
#include "nn/convnet.h"
#include "nn/schedule.h"
#include "ssl/data/load.h"
#include "ssl/data/loader.h"

using namespace sc;

int main(int argc, char** argv) {
  int64_t epochs = 3, train_images = 60000, test_images = 10000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int64_t value = std::atoll(argv[i + 1]);
    if (flag == "--epochs") epochs = value;
    else if (flag == "--train-images") train_images = value;
    else if (flag == "--test-images") test_images = value;
    else return std::fprintf(stderr, "unknown flag %s\n", argv[i]), 2;
  }
  const auto start = std::chrono::steady_clock::now();
  const ssl::TrainData data = ssl::load_train_data("", train_images, test_images);  // "": Fashion-MNIST

  // The model: encoder, then classifier. Sequential names them "0" and "1".
  Generator gen(0);
  nn::Sequential model;
  model.push_back(std::make_shared<nn::ConvNet>(gen, /*width=*/16, /*in_channels=*/1));
  model.push_back(std::make_shared<nn::Linear>(128, 10, gen));

  nn::ParamGroup group;
  for (const auto& [name, parameter] : model.named_parameters()) {
    group.names.push_back(name);
    group.params.push_back(parameter);
  }
  group.lr = 3e-3;
  nn::Adam adam({group});

  // No transform: the loader hands out plain batches [128, 1, 28, 28] in [0, 1], a new shuffle
  // every epoch, built ahead of the training loop on one worker thread.
  ssl::LoaderOptions options;
  options.batch_size = 128;
  options.num_workers = 1;
  ssl::Loader loader(data.train, options);
  const int64_t total_steps = epochs * loader.batches_per_epoch();
  const nn::WarmupCosineSchedule schedule(total_steps / 20, total_steps);  // 5% warmup, then cosine to 0

  model.train();  // BatchNorm normalises with each batch's own statistics
  int64_t step = 0;
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    loader.start_epoch(epoch);
    while (std::optional<ssl::Batch> batch = loader.next()) {
      schedule.apply(adam, step);
      adam.zero_grad();
      const Tensor loss = cross_entropy(model(batch->images), batch->labels);
      loss.backward();
      adam.step();
      if (++step % 100 == 0 || step == total_steps)
        std::printf("epoch %lld  step %4lld/%lld  loss %.4f\n", static_cast<long long>(epoch + 1),
                    static_cast<long long>(step), static_cast<long long>(total_steps), loss.item());
    }
  }

  // From here on no graph is recorded (NoGradGuard): nothing is saved for a backward that
  // never comes. Images are taken in order, 500 at a time.
  NoGradGuard no_grad;
  auto images = [](const ssl::Dataset& d, int64_t begin) {
    std::vector<int64_t> indices(static_cast<size_t>(std::min<int64_t>(500, d.size() - begin)));
    std::iota(indices.begin(), indices.end(), begin);
    return ssl::make_plain_batch(d, indices);
  };

  // At test time BatchNorm uses the running averages of the batch statistics it saw in
  // training. Those were taken while the weights kept moving, so they lag behind the final
  // weights (badly after a short run like CI's). Recompute them once with the final weights:
  // reset, then feed 10,000 training images, batch k weighted 1 / (k + 1), a plain average.
  std::vector<nn::BatchNorm*> norms;
  for (const auto& [name, module] : model.named_modules())
    if (auto* bn = dynamic_cast<nn::BatchNorm*>(module)) norms.push_back(bn);
  for (nn::BatchNorm* bn : norms) bn->reset_running_stats();
  for (int64_t begin = 0, k = 0; begin < std::min<int64_t>(10000, data.train.size()); begin += 500, ++k) {
    for (nn::BatchNorm* bn : norms) bn->set_momentum(1.0 / static_cast<double>(k + 1));
    model(images(data.train, begin).images);
  }

  // Test: BatchNorm now normalises with those running statistics (eval mode).
  model.eval();
  const ssl::Dataset& test = *data.test;
  int64_t correct = 0;
  for (int64_t begin = 0; begin < test.size(); begin += 500) {
    const ssl::Batch batch = images(test, begin);
    const Tensor predicted = argmax(model(batch.images), 1);
    correct += static_cast<int64_t>(sum(eq(predicted.to(DType::Float32), batch.labels.to(DType::Float32))).item());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("test accuracy %.2f%% (%lld of %lld images) after %lld epochs on %lld images, %.0f s, %d threads\n",
              100.0 * static_cast<double>(correct) / static_cast<double>(test.size()), static_cast<long long>(correct),
              static_cast<long long>(test.size()), static_cast<long long>(epochs),
              static_cast<long long>(data.train.size()), seconds, num_threads());
  return 0;
}
