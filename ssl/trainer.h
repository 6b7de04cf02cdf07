#pragma once
// SimCLR pre-training: the loop, its logs, its checkpoints and its resume.
//
// One step (train_step in trainer.cpp):
//   lr = schedule(step)                       linear warmup, then cosine (nn/schedule.h)
//   z = model(two-view batch [2B, C, H, W])   both views in one forward pass
//   loss = nt_xent(z, temperature)            (core/ops.h)
//   check the loss is finite; backward; check every gradient is finite; optimizer step
//   contrastive top-1 and embedding std of z (ssl/metrics.h)
//
// A run directory holds:
//   checkpoint.ckpt     the latest checkpoint (ssl/checkpoint.h): model state, optimizer
//                       state, RNG state, step, epoch and this config as JSON; written
//                       atomically at the end of every epoch and when the run stops
//   metrics.jsonl       one JSON object per line: {"type":"step",...} per step and
//                       {"type":"epoch",...} per epoch (mean loss, top-1, kNN accuracy)
//   config.json         the config the run was started with
//   augment-preview.png what the network saw, and loss.png / knn.png when gnuplot exists
//
// A NaN or Inf in the loss or in any gradient stops the run with an sc::Error naming the
// step and the first offending parameter; no checkpoint is written after it, so the last
// good one stays on disk.
//
// Resume: train() with `resume` set loads <out_dir>/checkpoint.ckpt and continues. On the
// CPU with the same thread count, an interrupted-then-resumed run ends with parameters
// bit-identical to an uninterrupted one: the batches depend only on (seed, epoch, sample)
// (ssl/data/loader.h), the schedule only on the step, and everything else that changes
// (weights, BN statistics, optimizer moments and step counts) is in the checkpoint.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ssl/data/dataset.h"
#include "ssl/simclr.h"

namespace sc::ssl {

struct TrainConfig {
  // ---- data
  std::string data;            // "": Fashion-MNIST (kFashionMnistDir); or an MNIST-layout folder,
                               // a CIFAR-10 binary folder, or an image folder (see load_train_data)
  int64_t train_subset = 0;    // use only the first N training images (0: all)
  int64_t test_subset = 0;     // use only the first N test images (0: all)
  std::string augment = "";    // augmentation preset; "": simclr-gray (1 channel) / simclr-rgb (3)
  // ---- model
  std::string encoder = "convnet";  // convnet | resnet18
  int64_t width = 16;
  int64_t projection_dim = 128;
  double temperature = 0.5;
  // ---- optimisation
  int64_t epochs = 1;
  int64_t max_steps = 0;       // > 0: stop after this many steps in total (may end mid-epoch)
  int64_t batch_size = 256;    // images per batch (2x as many views)
  std::string optimizer = "adam";  // adam | sgd | adamw | lars
  double lr = 1e-3;
  double weight_decay = 1e-6;
  double momentum = 0.9;       // sgd and lars
  double warmup_epochs = 0.5;  // linear warmup length, in epochs (rounded to steps)
  // ---- run
  uint64_t seed = 0;
  int threads = 0;             // compute threads (0: leave the default, all cores)
  int workers = 2;             // data loader threads
  std::string device = "cpu";  // cpu | cuda (cuda: an error until the CUDA backend exists)
  std::string out_dir = "runs/simclr";
  int64_t knn_k = 200;         // kNN monitor at the end of every epoch (0: off)
  int64_t knn_bank_size = 0;   // training images in the kNN bank (0: all the training images used)
  int64_t log_every = 10;      // plain log line every N steps when stdout is not a terminal
};

// The config as one JSON object (stored in checkpoints and config.json) and back.
// Reading ignores unknown keys and keeps defaults for missing ones; a malformed
// document or a value of the wrong type is an sc::Error naming the key.
std::string config_to_json(const TrainConfig& config);
TrainConfig config_from_json(const std::string& json);

// Throws sc::Error naming the bad field (unknown optimizer, batch size < 1, ...), and for
// --device cuda, which the trainer cannot use yet.
void validate_config(const TrainConfig& config);

ModelOptions model_options(const TrainConfig& config, int64_t in_channels);
// The seed of a run's weight-init generator: a stream of the run seed that no loader seed
// uses. The random-encoder baseline uses it too, so it is exactly the run's starting point.
uint64_t model_init_seed(uint64_t seed);

// A training split and (optionally) a test split for the kNN monitor and evaluation.
struct TrainData {
  Dataset train;
  std::optional<Dataset> test;
};
// Reads `path` ("" = Fashion-MNIST): a folder with train-images-idx3-ubyte(.gz) (MNIST
// layout), a folder with data_batch_1.bin (CIFAR-10), or an image folder (one subfolder
// per class; with train/ and test/ subfolders both splits are read, otherwise the whole
// folder is the training split and there is no test split). Subsets applied.
TrainData load_train_data(const std::string& path, int64_t train_subset = 0, int64_t test_subset = 0);

struct EpochSummary {
  int64_t epoch = 0;           // 0-based
  double mean_loss = 0.0;
  double mean_top1 = 0.0;
  double knn_accuracy = -1.0;  // -1: not measured
  double seconds = 0.0;
};

struct TrainResult {
  int64_t steps = 0;             // optimizer steps done in total (resumed ones included)
  int64_t epochs_done = 0;       // complete epochs
  double last_loss = 0.0;        // loss of the last step
  std::vector<EpochSummary> epochs;  // the epochs run by this call
  std::string checkpoint_path;
  double wall_seconds = 0.0;
};

// For tests and tools: ways to interrupt a run or poke at it.
struct TrainHooks {
  bool quiet = false;                     // no progress output (tests)
  int64_t stop_after_epochs = 0;          // > 0: stop (checkpoint written) once this many epochs are done,
                                          // as if the run had been killed there
  // Called after backward, before the gradient check and the optimizer step (NaN tests).
  std::function<void(int64_t step, SimCLR& model)> after_backward;
};

// Trains on `data` with `config`; with `resume`, first loads <out_dir>/checkpoint.ckpt
// (its model must match the config's architecture: a clear error otherwise).
TrainResult train(const TrainConfig& config, const TrainData& data, bool resume = false, const TrainHooks& hooks = {});
// Loads the data named by config.data, then trains.
TrainResult train(const TrainConfig& config, bool resume = false, const TrainHooks& hooks = {});

// The config stored in <run_dir>/checkpoint.ckpt (for `simclr train --resume DIR`).
TrainConfig load_run_config(const std::string& run_dir);
std::string checkpoint_path(const std::string& run_dir);

// The SimCLR model of a run, with the weights of its checkpoint (`path` a run directory or
// a .ckpt file). `config_out`, when given, receives the run's config.
std::unique_ptr<SimCLR> load_trained_model(const std::string& path, TrainConfig* config_out = nullptr);

// The augmentation preview PNG: `count` images of `dataset`, each with two views.
void write_augment_preview(const Dataset& dataset, const std::string& preset, const std::string& path, int64_t count,
                           uint64_t seed);

}  // namespace sc::ssl
