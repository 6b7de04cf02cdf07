#pragma once
// `simclr eval` and `simclr embed`: how good are a trained encoder's features, next to the
// baselines it has to beat, all computed the same way (ssl/evaluation.h):
//
//   raw pixels       the flattened images themselves: linear probe and kNN
//   random encoder   the same architecture with the run's initial (untrained) weights
//   SimCLR           the trained encoder (features h before the projection head,
//                    BatchNorm in eval mode)
//
// printed as one table with the kNN (cosine, k = 200, t = 0.1) and linear-probe (Adam,
// 100 epochs) test accuracies.
#include <cstdint>
#include <string>
#include <vector>

#include "ssl/trainer.h"

namespace sc::ssl {

struct EvalConfig {
  std::string run;                 // a run directory or a checkpoint file
  std::string data;                // "": the run's own --data
  int64_t train_subset = -1;       // -1: the run's own subset; 0: all
  int64_t test_subset = -1;
  int64_t probe_epochs = 100;
  int64_t knn_k = 200;
  bool baselines = true;           // also the raw-pixel and random-encoder rows
  uint64_t seed = 0;               // the probe's shuffling
  int threads = 0;
  std::string device = "cpu";      // where the encoder runs: cpu | cuda (the probe and kNN run on the CPU)
  bool verbose = false;            // print each row (with its timings) as it is done
};

struct EvalRow {
  std::string method;
  int64_t feature_dim = 0;
  double knn_accuracy = -1;    // -1: not measured
  double probe_accuracy = -1;
  double seconds = 0;          // kNN + probe
  double knn_seconds = 0, probe_seconds = 0;
};

struct EvalReport {
  std::string train_name, test_name;
  int64_t train_size = 0, test_size = 0;
  std::vector<EvalRow> rows;
  // A fixed-width text table, one row per method.
  std::string table() const;
};

// Features of the raw images: float32 [N, C*H*W] in [0, 1].
Tensor raw_pixel_features(const Dataset& dataset);

// One row: kNN and a linear probe on precomputed features.
EvalRow evaluate_features(const std::string& method, const Tensor& train_features, const Dataset& train,
                          const Tensor& test_features, const Dataset& test, const EvalConfig& config);

// The full table for a run (needs a test split: an error otherwise).
EvalReport evaluate_run(const EvalConfig& config);

// Encoder features of a dataset split ("train" or "test") written as float32 .npy [N, D],
// and the labels as int64 .npy next to it (<path without .npy>_labels.npy). Returns the
// feature tensor.
Tensor embed_to_npy(const std::string& run, const std::string& data, const std::string& split,
                    const std::string& path, int64_t subset = 0);

}  // namespace sc::ssl
