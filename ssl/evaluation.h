#pragma once
// How good are frozen features? Two standard read-outs, both on precomputed feature
// matrices (the encoder runs elsewhere, in eval mode, before the projection head):
//
//   kNN monitor   cheap, no training: each test row votes with its k nearest training rows
//                 (cosine similarity), weighted by exp(similarity / temperature).
//   linear probe  softmax regression on standardised features, trained with minibatch
//                 nn::Adam; the number papers report.
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace sc::ssl {

struct KnnOptions {
  int64_t k = 200;             // neighbours per test row (fewer when the training set is smaller)
  double temperature = 0.1;    // vote weight exp(similarity / temperature)
  // Test rows per similarity block: memory O(chunk_size * N_train). 128 x 60,000 floats is
  // 30 MB, below glibc's largest mmap threshold (32 MiB), so malloc reuses one block for every
  // chunk; at 256 (61 MB) each chunk was a fresh mapping whose pages were faulted in anew
  // (a fifth of the kNN's time on 60,000 training rows).
  int64_t chunk_size = 128;
  int64_t num_classes = -1;    // -1: 1 + the largest label seen
};

struct KnnResult {
  double accuracy = 0.0;  // top-1, in [0, 1]
  Tensor predictions;     // int64 [N_test]
  Tensor class_votes;     // float64 [N_test, C]: the summed weights per class
};

// train_features [N_train, D], train_labels int64 [N_train], test_features [N_test, D],
// test_labels int64 [N_test]; features float32 or float64 on the CPU.
// Ties: among equal similarities the lower training index wins a neighbour slot, and
// among equal vote totals the lower class wins, so the result does not depend on threads.
KnnResult knn_evaluate(const Tensor& train_features, const Tensor& train_labels, const Tensor& test_features,
                       const Tensor& test_labels, const KnnOptions& options = {});

// Per-dimension statistics of the training features, applied unchanged to the test features.
struct Standardizer {
  Tensor mean;       // float32 [D]
  Tensor inv_std;    // float32 [D]: 1 / sqrt(population variance + epsilon)

  static Standardizer fit(const Tensor& train_features, double epsilon = 1e-5);
  Tensor apply(const Tensor& features) const;  // float32 [N, D]
};

struct LinearProbeOptions {
  int64_t epochs = 100;
  int64_t batch_size = 512;
  // nn::Adam, i.e. torch.optim.Adam with coupled L2 weight decay (grad += weight_decay * param).
  double lr = 1e-3;
  double weight_decay = 1e-5;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double standardize_epsilon = 1e-5;  // added to the variance before the square root
  uint64_t seed = 0;                  // shuffling order
  int64_t num_classes = -1;           // -1: 1 + the largest training label
};

struct LinearProbeResult {
  double train_accuracy = 0.0;
  double test_accuracy = 0.0;
  std::vector<double> epoch_losses;  // mean training loss per epoch
  Tensor weight;                     // float32 [D, C], on the standardised features
  Tensor bias;                       // float32 [C]
  Standardizer standardizer;
};

// Trains softmax regression on the standardised training features. The protocol:
//   - standardise every dimension with the training set's mean and population std
//     (Standardizer; the test features get the same statistics);
//   - weight [D, C] and bias [C] start at zero (the problem is convex);
//   - `epochs` passes; each reshuffles the training rows (Fisher-Yates from `seed`) and
//     walks them in minibatches of `batch_size` (the last one may be smaller);
//   - per minibatch: loss = mean cross-entropy of xb W + b, one nn::Adam step on W and b
//     with coupled L2 weight decay and the constant `lr` (no schedule);
//   - accuracies of the final weights on the training and test features.
// The forward and backward of each step are written out (the same kernels autograd would
// run, without building a graph), and the fit runs on one thread, so the result depends only
// on the inputs and the options, not on the thread count. 100 epochs on 60,000 x 128
// features take about 2 s; on 784-d raw pixels about 9 s.
LinearProbeResult linear_probe(const Tensor& train_features, const Tensor& train_labels, const Tensor& test_features,
                               const Tensor& test_labels, const LinearProbeOptions& options = {});

}  // namespace sc::ssl
