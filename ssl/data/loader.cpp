#include "ssl/data/loader.h"

#include <atomic>
#include <chrono>
#include <limits>
#include <utility>

#include "base/error.h"
#include "core/generator.h"

namespace sc::ssl {

namespace {

std::atomic<int64_t> g_live_workers{0};

// Counts a worker thread as alive for exactly the span of its function.
struct LiveWorker {
  LiveWorker() { g_live_workers.fetch_add(1); }
  ~LiveWorker() { g_live_workers.fetch_sub(1); }
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

uint64_t shuffle_seed(uint64_t seed, int64_t epoch) {
  return mix_seed(seed, static_cast<uint64_t>(epoch), std::numeric_limits<uint64_t>::max());
}

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  if (!shuffle) return order;
  Generator gen(shuffle_seed(seed, epoch));
  // Fisher-Yates: position i takes a uniform pick among the positions 0..i not yet fixed.
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(gen.below(static_cast<uint64_t>(i) + 1));
    std::swap(order[i], order[j]);
  }
  return order;
}

int64_t Loader::live_worker_threads() { return g_live_workers.load(); }

Loader::Loader(const Dataset& dataset, LoaderOptions options, augment::TransformPtr transform)
    : dataset_(dataset), options_(options), transform_(std::move(transform)) {
  SC_CHECK(options_.batch_size > 0, "Loader(", dataset_.name(), "): batch_size must be positive, got ", options_.batch_size);
  SC_CHECK(options_.num_workers >= 0, "Loader(", dataset_.name(), "): num_workers must be >= 0, got ", options_.num_workers);
  SC_CHECK(options_.prefetch >= 1, "Loader(", dataset_.name(), "): prefetch must be >= 1, got ", options_.prefetch);
  SC_CHECK(!options_.pin_memory || cuda_available(), "Loader(", dataset_.name(),
           "): pin_memory needs the CUDA backend and a GPU: ", cuda_unavailable_reason());
  SC_CHECK(options_.shard_count >= 1 && options_.shard_index >= 0 && options_.shard_index < options_.shard_count,
           "Loader(", dataset_.name(), "): shard ", options_.shard_index, " of ", options_.shard_count,
           " is not a shard (0 <= index < count)");
  SC_CHECK(options_.batch_size % options_.shard_count == 0, "Loader(", dataset_.name(), "): the batch of ",
           options_.batch_size, " does not divide into ", options_.shard_count, " equal shards");
  SC_CHECK(!options_.draw_plans || transform_, "Loader(", dataset_.name(),
           "): draw_plans needs a transform (plans are drawn views; a plain batch has none)");
  const int64_t n = dataset_.size();
  batches_per_epoch_ = options_.drop_last ? n / options_.batch_size : (n + options_.batch_size - 1) / options_.batch_size;
  SC_CHECK(batches_per_epoch_ > 0, "Loader(", dataset_.name(), "): the dataset has ", n, " images, not enough for one batch of ",
           options_.batch_size, options_.drop_last ? " with drop_last" : "");
}

Loader::~Loader() { stop(); }

Batch Loader::build(int64_t k) const {
  const int64_t batch_begin = k * options_.batch_size;
  const int64_t batch_end = std::min<int64_t>(batch_begin + options_.batch_size, static_cast<int64_t>(order_.size()));
  // This process's shard of the batch (the whole batch with one shard). A short last batch
  // (drop_last off) is split the same way, the last shards possibly smaller.
  const int64_t shard = options_.batch_size / options_.shard_count;
  const int64_t begin = std::min(batch_end, batch_begin + options_.shard_index * shard);
  const int64_t end = options_.shard_count == 1 ? batch_end : std::min(batch_end, begin + shard);
  const std::span<const int64_t> indices(order_.data() + begin, static_cast<size_t>(end - begin));
  Batch batch = !transform_             ? make_plain_batch(dataset_, indices, options_.pin_memory)
                : options_.draw_plans ? make_two_view_plans(dataset_, indices, *transform_, options_.seed, epoch_)
                                      : make_two_view_batch(dataset_, indices, *transform_, options_.seed, epoch_,
                                                            options_.pin_memory);
  batch.epoch = epoch_;
  batch.index = k;
  return batch;
}

void Loader::worker_loop() {
  LiveWorker alive;
  const auto capacity = static_cast<int64_t>(options_.prefetch);
  for (;;) {
    int64_t k = 0;
    {
      std::unique_lock lock(mu_);
      // Batch k may start only when its slot is free: the consumer has taken batch k - capacity.
      can_claim_.wait(lock, [&] {
        return stopping_ || failed_ || next_to_claim_ >= batches_per_epoch_ || next_to_claim_ < next_to_deliver_ + capacity;
      });
      if (stopping_ || failed_ || next_to_claim_ >= batches_per_epoch_) return;
      k = next_to_claim_++;
    }
    std::optional<Batch> batch;
    std::string error;
    try {
      batch = build(k);
    } catch (const std::exception& e) {
      error = e.what();
      if (error.empty()) error = "(exception with an empty message)";
    } catch (...) {
      error = "unknown exception (not derived from std::exception)";
    }
    {
      std::lock_guard lock(mu_);
      Slot& slot = slots_[static_cast<size_t>(k % capacity)];
      slot.batch_index = k;
      slot.batch = std::move(batch);
      slot.error = std::move(error);
      slot.ready = true;
      if (!slot.error.empty()) failed_ = true;  // no new batches; those before k still finish
    }
    slot_ready_.notify_all();
  }
}

void Loader::start_epoch(int64_t epoch) {
  stop();
  SC_CHECK(epoch >= 0, "Loader(", dataset_.name(), "): epoch must be >= 0, got ", epoch);
  epoch_ = epoch;
  order_ = epoch_order(dataset_.size(), options_.seed, epoch, options_.shuffle);
  slots_.assign(static_cast<size_t>(options_.prefetch), Slot{});
  next_to_claim_ = next_to_deliver_ = 0;
  stopping_ = failed_ = false;
  stats_ = LoaderStats{};
  state_ = State::Running;
  const int64_t threads = std::min<int64_t>(options_.num_workers, batches_per_epoch_);
  for (int64_t t = 0; t < threads; ++t) workers_.emplace_back([this] { worker_loop(); });
}

std::optional<Batch> Loader::next() {
  if (state_ == State::Finished) return std::nullopt;
  SC_CHECK(state_ == State::Running, "Loader(", dataset_.name(),
           "): no epoch in progress (call start_epoch(epoch) first, and again after stop() or an error)");
  if (next_to_deliver_ >= batches_per_epoch_) {
    stop();  // the epoch is done: release the threads now rather than at the next epoch
    state_ = State::Finished;
    return std::nullopt;
  }
  const int64_t k = next_to_deliver_;
  const auto t0 = std::chrono::steady_clock::now();
  Batch batch;
  std::string error;
  if (options_.num_workers == 0) {
    try {
      batch = build(k);
    } catch (const std::exception& e) {
      error = e.what();
      if (error.empty()) error = "(exception with an empty message)";
    } catch (...) {
      error = "unknown exception (not derived from std::exception)";
    }
    ++next_to_deliver_;
  } else {
    std::unique_lock lock(mu_);
    Slot& slot = slots_[static_cast<size_t>(k % options_.prefetch)];
    slot_ready_.wait(lock, [&] { return slot.ready && slot.batch_index == k; });
    error = std::move(slot.error);
    if (slot.batch) batch = std::move(*slot.batch);
    slot = Slot{};
    ++next_to_deliver_;
  }
  const double waited = seconds_since(t0);
  stats_.batches += 1;
  stats_.total_wait_s += waited;
  stats_.last_wait_s = waited;
  stats_.max_wait_s = std::max(stats_.max_wait_s, waited);
  can_claim_.notify_all();  // a slot is free
  if (!error.empty()) {
    stop();
    throw Error(detail::concat("Loader(", dataset_.name(), "): building batch ", k, " of epoch ", epoch_, " failed: ", error));
  }
  return batch;
}

void Loader::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  can_claim_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
  slots_.clear();  // drops batches nobody will take
  state_ = State::Idle;
}

}  // namespace sc::ssl
