#pragma once
// `simclr eval` and `simclr embed`: how good are a trained encoder's features, next to the
// baselines it has to beat, all computed the same way (ssl/evaluation.h):
//
//   raw pixels       the flattened images themselves: linear probe and kNN
//   random encoder   the same architecture with the run's initial (untrained) weights
//   SimCLR           the trained encoder (features h before the projection head,
//                    BatchNorm in eval mode)
//
// printed as one table with the kNN (cosine, k = --knn-k (200 by default), t = 0.1) and
// linear-probe (Adam, 100 epochs by default) test accuracies, and saved into the run folder
// as eval.json (for scripts) and eval.md (for people) by write_eval_files.
#include <cstdint>
#include <string>
#include <vector>

#include "ssl/trainer.h"

namespace sc::ssl {

struct EvalConfig {
  std::string run;                 // a run directory or a checkpoint file
  std::string data;                // "": the run's --eval-data, else its --data (--data / --eval-data of `simclr eval`)
  double val_fraction = -1;        // -1: the run's, on the run's data (0 on another folder); else the split to use
  int64_t train_subset = -1;       // -1: the run's own subset; 0: all
  int64_t test_subset = -1;
  int64_t probe_epochs = 100;      // 0: skip the linear probe
  int64_t knn_k = 200;             // 0: skip kNN
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
  std::string checkpoint;          // the checkpoint file evaluated ("" when unknown)
  int64_t step = -1;               // its optimizer steps (-1: unknown)
  int64_t epochs_done = -1;        // and complete epochs (-1: unknown)
  std::string train_name, test_name;
  int64_t train_size = 0, test_size = 0;
  // The settings every row shares. knn_k is the k the kNN used: --knn-k, or the training
  // set's size when that is smaller; 0 when kNN was skipped. probe_epochs 0: probe skipped.
  int64_t knn_k = 0;
  double knn_temperature = 0.0;
  int64_t probe_epochs = 0;
  uint64_t seed = 0;               // the probe's shuffling seed
  std::vector<EvalRow> rows;

  // A fixed-width text table, one row per method; "-" where a measure was skipped.
  std::string table() const;
  // The same table in Markdown, under a few lines saying what was evaluated on what.
  std::string markdown() const;
  // Everything above as a JSON document (skipped accuracies are null).
  std::string json() const;
};

// Where write_eval_files put its two files.
struct EvalFiles {
  std::string json;      // <dir>/eval.json
  std::string markdown;  // <dir>/eval.md
};

// Writes report.json() to eval.json and report.markdown() to eval.md, each atomically, in
// the run directory `run` (when `run` is a .ckpt file: in the folder holding it).
EvalFiles write_eval_files(const EvalReport& report, const std::string& run);

// The encoder features encode_dataset computes (unaugmented, dataset order, eval mode, no
// gradients: float32 [N, D] on the CPU), the same bits, but with the CPU threads sharing out
// whole batches of images instead of splitting every op, which keeps them busy on a loaded
// machine. What `simclr eval` and `simclr embed` use; a CUDA model goes to encode_dataset.
// The model's training mode is restored afterwards.
Tensor encode_features(Method& method, const Dataset& dataset);

// Features of the raw images: float32 [N, C*H*W] in [0, 1].
Tensor raw_pixel_features(const Dataset& dataset);

// One row: kNN and a linear probe on precomputed features.
EvalRow evaluate_features(const std::string& method, const Tensor& train_features, const Dataset& train,
                          const Tensor& test_features, const Dataset& test, const EvalConfig& config);

// The data a run is evaluated on: config.data, or the run's --eval-data, or its --data; at
// the run's image size and the encoder's channels, with its split and subsets unless
// `config` overrides them. Both splits must have labels: an error says what to give otherwise.
TrainData load_eval_data(const EvalConfig& config, const TrainConfig& run_config, const Method& model);

// The full table for a run (needs a labeled test split: an error otherwise).
EvalReport evaluate_run(const EvalConfig& config);
// Throws sc::Error naming the flag, its value and the allowed range; evaluate_run calls it
// before it loads anything.
void validate_eval_config(const EvalConfig& config);

// Encoder features of a dataset split ("train" or "test") written as float32 .npy [N, D],
// and the labels as int64 .npy next to it (<path without .npy>_labels.npy). Returns the
// feature tensor.
// `threads` > 0 sets the compute threads first. Every argument is checked before anything loads.
Tensor embed_to_npy(const std::string& run, const std::string& data, const std::string& split,
                    const std::string& path, int64_t subset = 0, int threads = 0);

}  // namespace sc::ssl
