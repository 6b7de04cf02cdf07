#pragma once
// Self-supervised pre-training: one step, and the run around it.
//
// train_step (trainer.cpp) is the part to read first. One optimizer step:
//
//   lr = schedule(step)                            linear warmup, then cosine (nn/schedule.h)
//   zero the gradients
//   loss, metrics = method.forward_views(views)    two-view batch [2B, C, H, W] (ssl/method.h)
//   stop if the loss is NaN or Inf
//   loss.backward()                                autograd (core/autograd.cpp); with several
//                                                  ranks, gradient buckets are averaged while
//                                                  it runs (GradientReducer, ssl/distributed.h)
//   stop if any gradient is NaN or Inf, naming the first parameter
//   optimizer.step()                               fused Adam/SGD/LARS (nn/optimizer.h)
//   method.after_step(step)                        EMA of a target network, if the method has one
//
// train() is everything around it, each part in its own unit:
//   the run folder     ssl/run_dir.h   new runs refused in a used folder, checkpoints with a
//                                      fallback, metrics trimmed on resume
//   the config         ssl/config.h    validated first; on resume only run-length and logging
//                                      flags may change
//   the data           ssl/data/       the folder's reader, the threaded two-view loader
//   monitors, outputs  ssl/evaluation.h (kNN), augment preview, ssl/plots.h: after the
//                                      checkpoint, and a failure there is only a warning
//
// A NaN or Inf in the loss or in any gradient stops the run with an sc::Error naming the
// step and the first offending parameter; no checkpoint is written after it, so the last
// good one stays on disk.
//
// Resume: on the CPU with the same thread count, an interrupted-then-resumed run ends with
// parameters bit-identical to an uninterrupted one: the batches depend only on (seed,
// epoch, sample) (ssl/data/loader.h), the schedule only on the step, and everything else
// that changes (weights, BN statistics, optimizer moments, step counts) is in the checkpoint.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nn/optimizer.h"
#include "nn/schedule.h"
#include "ssl/config.h"
#include "ssl/data/load.h"
#include "ssl/method.h"

namespace sc::ssl {

class GradientReducer;  // ssl/distributed.h

// For tests and tools: ways to interrupt a run or poke at it.
struct TrainHooks {
  bool quiet = false;                     // no progress output (tests)
  int64_t stop_after_epochs = 0;          // > 0: stop (checkpoint written) once this many epochs are done,
                                          // as if the run had been killed there
  // Called after backward, before the gradient check and the optimizer step (NaN tests).
  std::function<void(int64_t step, Method& method)> after_backward;
  // Tools that look inside a step (ssl/inspect.h: --dump-graph, --profile). after_forward sees
  // the loss while its whole graph is still there; the other two bracket each train_step call.
  std::function<void(int64_t step, Method& method, const Tensor& loss)> after_forward;
  std::function<void(int64_t step)> on_step_start;
  std::function<void(int64_t step)> on_step_end;
  // Sees each two-view batch [2B, C, H, W] on the training device, after on_step_start and
  // before the step (tests check the views' size).
  std::function<void(int64_t step, const Tensor& views)> on_batch;
};

// ---- one step -----------------------------------------------------------------------------

struct StepResult {
  double loss = 0.0;
  double lr = 0.0;  // the learning rate this step used
  std::vector<std::pair<std::string, double>> metrics;  // the method's, in its order
  std::string warning;                                  // the method's ("embeddings collapsing")
};

// One optimizer step of `method` on the two-view batch `views` (already on the method's
// device). `step` is 0-based; the schedule gives its lr. Throws sc::Error naming the step
// when the loss or a gradient is not finite (nothing is updated then). With several ranks the
// gradients are averaged by `reducer` (made on method.trainable_parameters()) during backward,
// or, without one, by average_gradients after it (ssl/distributed.h).
StepResult train_step(Method& method, nn::Optimizer& optimizer, const nn::WarmupCosineSchedule& schedule,
                      const Tensor& views, int64_t step, const TrainHooks& hooks = {},
                      GradientReducer* reducer = nullptr);

// ---- the run ------------------------------------------------------------------------------

enum class StartMode {
  New,      // a new run; refused when config.out_dir already holds one
  Resume,   // continue the run in config.out_dir from its newest readable checkpoint
  Replace,  // --force: a new run; an old run in the folder is moved aside first (RunDir::start_new)
};

struct EpochSummary {
  int64_t epoch = 0;  // 0-based
  double mean_loss = 0.0;
  std::vector<std::pair<std::string, double>> mean_metrics;  // the method's metrics, averaged
  double knn_accuracy = -1.0;  // -1: not measured
  double seconds = 0.0;
};

struct TrainResult {
  int64_t steps = 0;             // optimizer steps done in total (resumed ones included)
  int64_t epochs_done = 0;       // complete epochs
  double last_loss = 0.0;        // loss of the last step
  std::vector<EpochSummary> epochs;  // the epochs run by this call
  std::string checkpoint_path;
  std::string resumed_from;      // the checkpoint file a resumed run started from ("" for a new run)
  std::vector<std::string> warnings;  // what went wrong without stopping the run (a monitor, a plot)
  double wall_seconds = 0.0;
  int interrupted_by = 0;        // SIGINT or SIGTERM that stopped the run after a checkpoint (ssl/interrupt.h), or 0
};

// Trains on `data` with `config` in the run folder config.out_dir (see StartMode). On
// Resume, `config` must match the stored one except for the flags that may change
// (check_resume_compatible).
TrainResult train(const TrainConfig& config, const TrainData& data, StartMode mode = StartMode::New,
                  const TrainHooks& hooks = {});
// Loads the data named by config.data (after validating the config), then trains.
TrainResult train(const TrainConfig& config, StartMode mode = StartMode::New, const TrainHooks& hooks = {});

// A run's data: config.data read with the run's channels, image size, split and subsets;
// with config.eval_data, the kNN monitor's bank (TrainData::knn_bank) and test split come
// from that labeled folder instead.
TrainData load_run_data(const TrainConfig& config);

// The config stored in the newest readable checkpoint of `run_dir` (for `--resume DIR`).
TrainConfig load_run_config(const std::string& run_dir);

// The method of a run with the weights of its checkpoint (`path`: a run folder, whose newest
// readable checkpoint is used, or a .ckpt file). `config_out`, when given, receives the
// run's config.
// `from`, when given, receives the checkpoint file actually read and its step and epoch.
struct CheckpointInfo {
  std::string path;
  int64_t step = 0;
  int64_t epoch = 0;
};
std::unique_ptr<Method> load_trained_model(const std::string& path, TrainConfig* config_out = nullptr,
                                           CheckpointInfo* from = nullptr);

// The augmentation preview PNG: `count` images spread evenly over `dataset` (preview_indices),
// each with two views; crop_size as make_preset's (0: the preset's own).
void write_augment_preview(const Dataset& dataset, const std::string& preset, const std::string& path, int64_t count,
                           uint64_t seed, int64_t crop_size = 0);
// The dataset indices the preview shows: min(count, dataset_size) of them, k * size / n.
std::vector<int64_t> preview_indices(int64_t dataset_size, int64_t count);

}  // namespace sc::ssl
