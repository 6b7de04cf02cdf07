// Augmentation throughput: two-view batches built by the threaded Loader (ssl/data/loader.h)
// with the named presets, counted in images (views) per second, the way training consumes
// them. The torchvision peer is bench/torch_augment.py; bench/augment_bench.sh runs both.
//
//   simclr_gray  Fashion-MNIST train (60,000 real 1x28x28 images from
//                /usr/share/datasets/fashion-mnist), preset "simclr-gray"
//   simclr_rgb   10,000 synthetic random uint8 3x32x32 images held in memory (no CIFAR on
//                the bench machine; the pipeline's cost does not depend on the pixel values
//                beyond branch-free arithmetic), preset "simclr-rgb"
//
// Batch 256 images = 512 views; num_workers = SC_BENCH_THREADS (default: all cores), prefetch
// at the Loader's default. One iteration = one batch taken from Loader::next(); the consumer
// does nothing else, so this is the loader's full production rate. Epochs restart as needed
// (start_epoch joins the old workers and starts new ones; that cost is counted, once per
// 234 or 39 batches). Counters:
//   views/s          augmented views produced per second (2 per image): the headline number
//   images/s         dataset images per second (views/s / 2)
//   mean_wait_ms     LoaderStats mean consumer wait inside next(), per batch, over the run
//   max_wait_ms      the largest single wait of the timed run (epoch starts included)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "augment/transform.h"
#include "core/generator.h"
#include "core/ops.h"
#include "ssl/data/idx.h"
#include "ssl/data/loader.h"

using namespace sc;

namespace {

constexpr int64_t kBatchImages = 256;
constexpr int64_t kSyntheticRgbImages = 10000;

int bench_threads() {
  const char* s = std::getenv("SC_BENCH_THREADS");
  if (s && std::atoi(s) > 0) return std::atoi(s);
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

const ssl::Dataset& fashion_mnist_train() {
  static const ssl::Dataset dataset = ssl::load_fashion_mnist("train");
  return dataset;
}

// Random uint8 pixels and labels from a fixed seed (the same every run).
const ssl::Dataset& synthetic_rgb() {
  static const ssl::Dataset dataset = [] {
    Generator gen(20240604);
    std::vector<uint8_t> pixels(static_cast<size_t>(kSyntheticRgbImages * 3 * 32 * 32));
    for (uint8_t& p : pixels) p = static_cast<uint8_t>(gen.below(256));
    std::vector<int64_t> labels(kSyntheticRgbImages);
    for (int64_t& l : labels) l = static_cast<int64_t>(gen.below(10));
    return ssl::Dataset("synthetic-rgb-32", 3, 32, 32, std::move(pixels), std::move(labels), 10);
  }();
  return dataset;
}

void run_loader(benchmark::State& state, const ssl::Dataset& dataset, const std::string& preset) {
  const int workers = bench_threads();
  augment::TransformPtr transform = augment::make_preset(preset);
  ssl::LoaderOptions options;
  options.batch_size = kBatchImages;
  options.num_workers = workers;
  options.seed = 42;
  ssl::Loader loader(dataset, options, transform);

  // Warm-up: one batch, so thread start-up and first-touch allocation are not timed.
  int64_t epoch = 0;
  loader.start_epoch(epoch);
  benchmark::DoNotOptimize(loader.next());

  // LoaderStats restart with every epoch: fold each epoch's into the run's totals before
  // the next start_epoch, leaving out the warm-up batch of the first epoch.
  int64_t waited_batches = 0;
  double total_wait_s = 0, max_wait_s = 0;
  int64_t skip_batches = loader.stats().batches;
  double skip_wait_s = loader.stats().total_wait_s;
  auto fold_epoch_stats = [&] {
    const ssl::LoaderStats& s = loader.stats();
    waited_batches += s.batches - skip_batches;
    total_wait_s += s.total_wait_s - skip_wait_s;
    skip_batches = 0;
    skip_wait_s = 0;
  };

  int64_t batches = 0;
  for (auto _ : state) {
    std::optional<ssl::Batch> batch = loader.next();
    if (!batch) {  // epoch done: start the next one (thread start-up is part of the cost)
      fold_epoch_stats();
      loader.start_epoch(++epoch);
      batch = loader.next();
    }
    max_wait_s = std::max(max_wait_s, loader.stats().last_wait_s);
    benchmark::DoNotOptimize(batch->images.raw_data());
    ++batches;
  }
  fold_epoch_stats();
  loader.stop();

  const double views_per_batch = 2.0 * kBatchImages;
  state.counters["views/s"] = benchmark::Counter(views_per_batch * batches, benchmark::Counter::kIsRate);
  state.counters["images/s"] = benchmark::Counter(kBatchImages * static_cast<double>(batches), benchmark::Counter::kIsRate);
  state.counters["mean_wait_ms"] = waited_batches ? 1e3 * total_wait_s / waited_batches : 0.0;
  state.counters["max_wait_ms"] = 1e3 * max_wait_s;
  state.counters["workers"] = workers;
  state.SetLabel(dataset.name() + " " + preset);
}

void BM_loader_simclr_gray(benchmark::State& state) { run_loader(state, fashion_mnist_train(), "simclr-gray"); }
void BM_loader_simclr_rgb(benchmark::State& state) { run_loader(state, synthetic_rgb(), "simclr-rgb"); }

}  // namespace

// Real time: the work happens on the worker threads, not on the timed (consumer) thread.
BENCHMARK(BM_loader_simclr_gray)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(5.0);
BENCHMARK(BM_loader_simclr_rgb)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(5.0);

int main(int argc, char** argv) {
  // The workers are the parallelism; keep the engine's own op threads out of the way.
  set_num_threads(1);
  benchmark::AddCustomContext("sc_workers", std::to_string(bench_threads()));
  benchmark::AddCustomContext("batch_images", std::to_string(kBatchImages));
  benchmark::AddCustomContext("rgb_source", std::to_string(kSyntheticRgbImages) +
                                                " random uint8 3x32x32 images (sc::Generator, seed 20240604)");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
