#pragma once
// The data loader: shuffles the dataset each epoch, cuts it into batches and has worker
// threads build those batches ahead of the consumer (the training loop).
//
//   Loader loader(dataset, {.batch_size = 256, .num_workers = 2, .seed = 42}, make_preset("simclr-gray"));
//   for (int64_t epoch = 0; epoch < epochs; ++epoch) {
//     loader.start_epoch(epoch);
//     while (std::optional<Batch> batch = loader.next()) train_step(batch->images);
//   }
//
// Guarantees:
// - Order: per epoch, the dataset order is a Fisher-Yates shuffle drawn from
//   Generator(shuffle_seed(seed, epoch)); batch k holds order[k*B .. k*B+B-1] (a shard of it
//   with shard_count > 1). Views are
//   seeded per sample (two_view.h), so batch k is byte-identical whatever num_workers is.
// - Bounded memory: at most `prefetch` batches are built or waiting at any time (a worker
//   may only start batch k once the consumer has taken batch k - prefetch), plus the one
//   the consumer holds; memory does not grow with the dataset.
// - Errors: an exception thrown while building batch k (a transform, a bad index) is
//   rethrown from next() as an sc::Error carrying its message, when the consumer reaches
//   batch k (batches before it are delivered first).
// - Shutdown: stop(), start_epoch() and the destructor join every worker, also mid-epoch
//   with a full queue; no thread outlives the Loader.
// The dataset and the transform must outlive the Loader; the transform must be
// thread-safe (Transform::apply is const).
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "augment/transform.h"
#include "ssl/data/dataset.h"
#include "ssl/data/two_view.h"

namespace sc::ssl {

struct LoaderOptions {
  int64_t batch_size = 256;
  bool shuffle = true;     // false: dataset order every epoch (evaluation)
  bool drop_last = true;   // drop the last, smaller batch (SimCLR wants equal batches)
  int num_workers = 2;     // 0: batches are built inside next(), on the consumer's thread
  int prefetch = 4;        // the queue's capacity: batches built ahead of the consumer
  uint64_t seed = 0;
  // Build the batches' images in page-locked memory (empty_pinned), so the copy to the GPU
  // runs at full speed: on for a CUDA training run. Needs the CUDA backend and a GPU.
  bool pin_memory = false;
  // Hand over two-view batches as plans (Batch::plans: the uint8 images and each view's
  // drawn parameters) instead of float views, for the GPU to make the views
  // (--augment-device cuda). Needs a transform with a plan form (augment/plan.h).
  bool draw_plans = false;
  // Data parallel (ssl/distributed.h): this process builds only its shard of every batch.
  // batch_size stays the global batch; shard i of n gets rows [i * batch_size / n, (i + 1) *
  // batch_size / n) of each batch in the epoch order, so the n ranks together train on
  // exactly the batches one process would (and views depend only on seed, epoch, sample).
  // batch_size must divide by shard_count.
  int shard_index = 0;
  int shard_count = 1;
};

// How long the consumer waited inside next() for the current epoch's batches. Near zero
// means the loader keeps up with training; a wait close to the step time means it does not.
// With num_workers = 0 the wait is the whole time spent building each batch.
struct LoaderStats {
  int64_t batches = 0;
  double total_wait_s = 0, max_wait_s = 0, last_wait_s = 0;
  double mean_wait_s() const { return batches ? total_wait_s / static_cast<double>(batches) : 0.0; }
};

// The seed of epoch `epoch`'s shuffle. Uses stream id 2^64 - 1 of mix_seed, which no view
// seed (2 * sample + view < 2^63) takes.
uint64_t shuffle_seed(uint64_t seed, int64_t epoch);
// The dataset order of an epoch: 0..n-1, Fisher-Yates shuffled when `shuffle` is on.
std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle);

class Loader {
 public:
  // With a transform: two-view batches [2B, C, H, W]. Without (nullptr): plain batches
  // [B, C, H, W] of the unaugmented images.
  Loader(const Dataset& dataset, LoaderOptions options, augment::TransformPtr transform = nullptr);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  int64_t batches_per_epoch() const { return batches_per_epoch_; }
  const LoaderOptions& options() const { return options_; }

  // Stops any epoch in progress, then starts building epoch `epoch`'s batches.
  void start_epoch(int64_t epoch);
  // The next batch of the epoch, in order; std::nullopt once the epoch is done. Throws when
  // no epoch is in progress (never started, or ended by stop() or an error).
  std::optional<Batch> next();
  // Stops the workers and joins them; batches not taken are dropped. Safe to call twice.
  void stop();

  const LoaderStats& stats() const { return stats_; }
  // Worker threads of all Loaders alive right now (tests check that none leak).
  static int64_t live_worker_threads();

 private:
  struct Slot {
    int64_t batch_index = -1;  // which batch sits here once `ready`
    bool ready = false;
    std::optional<Batch> batch;
    std::string error;         // non-empty: building the batch threw this message
  };

  Batch build(int64_t k) const;
  void worker_loop();

  const Dataset& dataset_;
  LoaderOptions options_;
  augment::TransformPtr transform_;
  int64_t batches_per_epoch_ = 0;

  // Epoch state. Written by start_epoch() before the workers start, read-only while they run.
  enum class State { Idle, Running, Finished };  // Idle: never started, stopped, or failed
  State state_ = State::Idle;
  int64_t epoch_ = -1;
  std::vector<int64_t> order_;

  // Shared with the workers, guarded by mu_.
  std::mutex mu_;
  std::condition_variable can_claim_;  // workers wait here for room in the queue
  std::condition_variable slot_ready_; // the consumer waits here for its next batch
  std::vector<Slot> slots_;            // batch k lives in slots_[k % prefetch]
  int64_t next_to_claim_ = 0, next_to_deliver_ = 0;
  bool stopping_ = false, failed_ = false;

  std::vector<std::thread> workers_;
  LoaderStats stats_;
};

}  // namespace sc::ssl
