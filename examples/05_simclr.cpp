// Example 5: SimCLR in about 100 lines, on the public API only: no labels in training.
//
// `simclr train` (ssl/trainer.cpp) adds a run folder, checkpoints, resume and logging around
// exactly this loop. Each batch holds two random augmentations ("views") of B images; the
// method encodes all 2B views, projects them, and NT-Xent rewards each view for picking its
// partner out of the other 2B - 1. The labels are used only at the end, by a kNN classifier on
// the frozen features, to see whether what was learned separates the classes: compare the
// number before and after training.
//
//   example_05_simclr [--epochs 1] [--steps 0 (= all)] [--train-images 60000] [--test-images 10000]
// One epoch of 60,000 images takes a few minutes on 2 cores. CI runs 10 steps on 2,048 images.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "augment/transform.h"
#include "core/ops.h"
#include "nn/adam.h"
#include "nn/schedule.h"
#include "ssl/data/load.h"
#include "ssl/data/loader.h"
#include "ssl/evaluation.h"
#include "ssl/method.h"

using namespace sc;

// kNN top-1 of the encoder's features (before the projection head): each test image votes
// with its 200 nearest training images, by cosine similarity.
double knn_accuracy(ssl::Method& method, const ssl::Dataset& train, const ssl::Dataset& test) {
  const Tensor train_features = ssl::encode_dataset(method, train);  // eval mode, no graph
  const Tensor test_features = ssl::encode_dataset(method, test);
  return ssl::knn_evaluate(train_features, from_vector(train.labels(), {train.size()}), test_features,
                           from_vector(test.labels(), {test.size()}))
      .accuracy;
}

int main(int argc, char** argv) {
  int64_t epochs = 1, max_steps = 0, train_images = 60000, test_images = 10000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int64_t value = std::atoll(argv[i + 1]);
    if (flag == "--epochs") epochs = value;
    else if (flag == "--steps") max_steps = value;
    else if (flag == "--train-images") train_images = value;
    else if (flag == "--test-images") test_images = value;
    else return std::fprintf(stderr, "unknown flag %s\n", argv[i]), 2;
  }
  const ssl::TrainData data = ssl::load_train_data("", train_images, test_images);  // "": Fashion-MNIST
  const ssl::Dataset knn_bank = ssl::dataset_head(data.train, 10000);              // kNN reference images

  // The method by name, as --method picks it: a ConvNet encoder (w = 16) and a projection head.
  Generator gen(0);
  ssl::MethodOptions options;
  options.encoder = {"convnet", /*width=*/16, /*in_channels=*/1};
  options.projection_dim = 128;
  options.hyper = {{"temperature", 0.2}};
  std::unique_ptr<ssl::Method> method = ssl::make_method("simclr", options, gen);

  nn::ParamGroup group;
  for (const auto& [name, parameter] : method->trainable_parameters()) {
    group.names.push_back(name);
    group.params.push_back(parameter);
  }
  group.lr = 3e-3;
  group.weight_decay = 1e-6;
  nn::Adam adam({group});

  // Two-view batches [2B, 1, 28, 28]: rows i and i + B are two augmentations of image i.
  ssl::LoaderOptions loader_options;
  loader_options.batch_size = 128;
  loader_options.num_workers = 1;
  ssl::Loader loader(data.train, loader_options, augment::make_preset("simclr-gray"));
  int64_t total = epochs * loader.batches_per_epoch();
  if (max_steps > 0 && max_steps < total) total = max_steps;
  const nn::WarmupCosineSchedule schedule(std::max<int64_t>(1, total / 10), total);

  std::printf("kNN accuracy of the random encoder: %.2f%%\n", 100 * knn_accuracy(*method, knn_bank, *data.test));
  method->train();
  int64_t step = 0;
  for (int64_t epoch = 0; step < total; ++epoch) {
    loader.start_epoch(epoch);
    for (std::optional<ssl::Batch> batch; step < total && (batch = loader.next()); ++step) {
      schedule.apply(adam, step);
      adam.zero_grad();
      const ssl::MethodOutput out = method->forward_views(batch->images);  // loss = NT-Xent
      out.loss.backward();
      adam.step();
      method->after_step(step, total);
      if (step % 25 == 0 || step + 1 == total)
        std::printf("step %4lld/%lld  loss %.4f  top1 %.3f\n", static_cast<long long>(step + 1),
                    static_cast<long long>(total), out.loss.item(), out.metrics[0].second);
    }
  }
  loader.stop();
  std::printf("kNN accuracy after %lld steps: %.2f%%\n", static_cast<long long>(total),
              100 * knn_accuracy(*method, knn_bank, *data.test));
  return 0;
}
