// Two-view batches and the threaded loader: the pairing order nt_xent expects, per-sample
// seeding (same seed -> byte-identical batches whatever the thread count), shuffling,
// drop_last, bounded prefetch, errors from workers, and shutdown mid-epoch without hangs.
// Most tests use a small synthetic dataset and tiny transforms defined here, so expected
// values can be written down exactly; one runs the real simclr-gray preset on Fashion-MNIST.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "augment/transform.h"
#include "ssl/data/idx.h"
#include "ssl/data/loader.h"
#include "ssl/data/two_view.h"

#include "tests/test_util.h"

using namespace sc;
using namespace sc::test;
using namespace sc::ssl;
using sc::augment::Image;

namespace {

// n images of c x h x w; byte k of image i is (i * 13 + k * 7) % 256, label i % 10.
Dataset synthetic(int64_t n, int64_t c = 1, int64_t h = 4, int64_t w = 5) {
  std::vector<uint8_t> px(static_cast<size_t>(n * c * h * w));
  const int64_t per = c * h * w;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < per; ++k) px[i * per + k] = static_cast<uint8_t>((i * 13 + k * 7) % 256);
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) labels[i] = i % 10;
  return Dataset("synthetic", c, h, w, std::move(px), std::move(labels), 10);
}

// Adds one gen.uniform() draw to every pixel: the output tells exactly which generator made it.
class AddUniform : public augment::Transform {
 public:
  Image apply(const Image& in, Generator& gen) const override {
    Image out = in;
    const auto shift = static_cast<float>(gen.uniform());
    for (float& v : out.pixels) v += shift;
    return out;
  }
  std::string describe() const override { return "AddUniform"; }
};

// Counts its calls and optionally sleeps, to make workers slow enough to observe.
class CountingTransform : public augment::Transform {
 public:
  explicit CountingTransform(std::chrono::microseconds delay = {}) : delay_(delay) {}
  Image apply(const Image& in, Generator& gen) const override {
    calls.fetch_add(1);
    if (delay_.count() > 0) std::this_thread::sleep_for(delay_);
    return base_.apply(in, gen);
  }
  std::string describe() const override { return "Counting"; }
  mutable std::atomic<int64_t> calls{0};

 private:
  std::chrono::microseconds delay_;
  AddUniform base_;
};

// Throws on one dataset sample, as a broken transform or a bad image would.
class ThrowOnSample : public augment::Transform {
 public:
  ThrowOnSample(int64_t bad_value, bool std_exception) : bad_value_(bad_value), std_exception_(std_exception) {}
  Image apply(const Image& in, Generator& gen) const override {
    // The synthetic dataset's first byte identifies the sample: (i * 13) % 256.
    if (static_cast<int64_t>(in.pixels[0] * 255.0f + 0.5f) == bad_value_) {
      if (std_exception_) throw std::runtime_error("plain std::runtime_error from a transform");
      throw Error("boom: transform refused this image");
    }
    return in;
  }
  std::string describe() const override { return "ThrowOnSample"; }

 private:
  int64_t bad_value_;
  bool std_exception_;
};

// Crops to a size that depends on the draw: views of one batch disagree in shape.
class RandomSize : public augment::Transform {
 public:
  Image apply(const Image& in, Generator& gen) const override { return Image(in.channels, 2 + static_cast<int64_t>(gen.below(2)), 2); }
  std::string describe() const override { return "RandomSize(2 or 3 rows)"; }
};

std::vector<float> floats_of(const Tensor& t) { return t.to_vector<float>(); }

// Every batch of one epoch, flattened: images then labels then indices, for comparisons.
struct EpochDump {
  std::vector<std::vector<float>> images;
  std::vector<std::vector<int64_t>> labels, indices;
};

EpochDump run_epoch(Loader& loader, int64_t epoch) {
  EpochDump dump;
  loader.start_epoch(epoch);
  while (std::optional<Batch> b = loader.next()) {
    CHECK(b->epoch == epoch);
    CHECK(b->index == static_cast<int64_t>(dump.images.size()));
    dump.images.push_back(floats_of(b->images));
    dump.labels.push_back(b->labels.to_vector<int64_t>());
    dump.indices.push_back(b->indices);
  }
  return dump;
}

bool same_bytes(const EpochDump& a, const EpochDump& b) {
  if (a.images.size() != b.images.size() || a.indices != b.indices || a.labels != b.labels) return false;
  for (size_t k = 0; k < a.images.size(); ++k) {
    if (a.images[k].size() != b.images[k].size()) return false;
    if (std::memcmp(a.images[k].data(), b.images[k].data(), a.images[k].size() * sizeof(float)) != 0) return false;
  }
  return true;
}

// Runs f on a detached thread and reports whether it finished within `limit`. A hang then
// fails the test instead of freezing the suite (the stuck thread is abandoned).
bool finishes_within(std::function<void()> f, std::chrono::milliseconds limit) {
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> finished = done->get_future();
  std::thread([f = std::move(f), done] {
    try {
      f();
      done->set_value();
    } catch (...) {
      done->set_exception(std::current_exception());
    }
  }).detach();
  if (finished.wait_for(limit) != std::future_status::ready) return false;
  finished.get();  // rethrows a failure inside f
  return true;
}

}  // namespace

// ---- two-view batches -----------------------------------------------------------

TEST_CASE("data: two-view batch puts first views in rows 0..B-1 and second views in rows B..2B-1") {
  const Dataset ds = synthetic(20);
  const std::vector<int64_t> indices = {7, 3, 12};
  const uint64_t seed = 42;
  const int64_t epoch = 5;
  const Batch batch = make_two_view_batch(ds, indices, AddUniform(), seed, epoch);
  CHECK(batch.images.shape() == Shape{6, 1, 4, 5});
  CHECK(batch.images.dtype() == DType::Float32);
  CHECK(batch.labels.dtype() == DType::Int64);
  CHECK(batch.labels.to_vector<int64_t>() == std::vector<int64_t>{7, 3, 2});
  CHECK(batch.indices == indices);
  const std::vector<float> got = floats_of(batch.images);
  for (int view = 0; view < 2; ++view) {
    for (size_t j = 0; j < indices.size(); ++j) {
      // Expected: the image in [0, 1] plus the first uniform draw of this sample's view generator.
      Generator gen(view_seed(seed, epoch, indices[j], view));
      const auto shift = static_cast<float>(gen.uniform());
      const auto src = ds.image(indices[j]);
      const size_t row = view * indices.size() + j;
      int mismatches = 0;
      for (size_t k = 0; k < 20; ++k) mismatches += got[row * 20 + k] != src[k] / 255.0f + shift;
      CHECK(mismatches == 0);
    }
  }
  // The two views of a sample come from different generators.
  CHECK(got[0] != got[3 * 20]);
}

TEST_CASE("data: a sample's views depend only on (seed, epoch, sample, view), not on its batch") {
  const Dataset ds = synthetic(20);
  const AddUniform t;
  const std::vector<float> alone = floats_of(make_two_view_batch(ds, std::vector<int64_t>{9}, t, 1, 2).images);
  const std::vector<float> among = floats_of(make_two_view_batch(ds, std::vector<int64_t>{4, 9, 1, 0}, t, 1, 2).images);
  // Sample 9 is row 1 (view 0) and row 5 (view 1) of the four-image batch.
  CHECK(std::equal(alone.begin(), alone.begin() + 20, among.begin() + 1 * 20));
  CHECK(std::equal(alone.begin() + 20, alone.end(), among.begin() + 5 * 20));
  // Another epoch or seed changes the views.
  const std::vector<float> other_epoch = floats_of(make_two_view_batch(ds, std::vector<int64_t>{9}, t, 1, 3).images);
  const std::vector<float> other_seed = floats_of(make_two_view_batch(ds, std::vector<int64_t>{9}, t, 2, 2).images);
  CHECK(alone != other_epoch);
  CHECK(alone != other_seed);
  CHECK(view_seed(1, 2, 9, 0) != view_seed(1, 2, 9, 1));
  CHECK(contains(message_of([] { view_seed(1, 2, 9, 2); }), "view must be 0 or 1"));
}

TEST_CASE("data: two-view batch errors name the dataset and transform") {
  const Dataset ds = synthetic(20);
  std::string msg = message_of([&] { make_two_view_batch(ds, std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}, RandomSize(), 0, 0); });
  CHECK(contains(msg, "transform RandomSize(2 or 3 rows) gave a 1x"));
  CHECK(contains(msg, "every view must share one size"));
  CHECK(contains(message_of([&] { make_two_view_batch(ds, std::vector<int64_t>{}, AddUniform(), 0, 0); }), "empty batch"));
  CHECK(contains(message_of([&] { make_two_view_batch(ds, std::vector<int64_t>{20}, AddUniform(), 0, 0); }),
                 "dataset synthetic: index 20 is outside [0, 20)"));
}

TEST_CASE("data: plain batch is the unaugmented images as float in [0, 1]") {
  const Dataset ds = synthetic(20, 3, 2, 2);
  const Batch b = make_plain_batch(ds, std::vector<int64_t>{5, 0});
  CHECK(b.images.shape() == Shape{2, 3, 2, 2});
  const std::vector<float> got = floats_of(b.images);
  for (int k = 0; k < 12; ++k) {
    CHECK(got[k] == ds.image(5)[k] / 255.0f);
    CHECK(got[12 + k] == ds.image(0)[k] / 255.0f);
  }
  CHECK(b.labels.to_vector<int64_t>() == std::vector<int64_t>{5, 0});
}

// ---- shuffling ---------------------------------------------------------------

TEST_CASE("data: epoch order is a seeded permutation that changes with epoch and seed") {
  const std::vector<int64_t> a = epoch_order(1000, 7, 0, true);
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) REQUIRE(sorted[i] == i);
  CHECK(a == epoch_order(1000, 7, 0, true));
  CHECK(a != epoch_order(1000, 7, 1, true));
  CHECK(a != epoch_order(1000, 8, 0, true));
  // A shuffle leaves about one element in place on average; allow up to 10 (p < 1e-7).
  int64_t fixed = 0;
  for (int64_t i = 0; i < 1000; ++i) fixed += a[i] == i;
  CHECK(fixed <= 10);
  const std::vector<int64_t> identity = epoch_order(5, 7, 3, false);
  CHECK(identity == std::vector<int64_t>{0, 1, 2, 3, 4});
}

// ---- loader ------------------------------------------------------------------

TEST_CASE("data: loader gives byte-identical batches with 0, 1 and 4 workers; epochs differ") {
  const Dataset ds = synthetic(103);
  auto transform = std::make_shared<AddUniform>();
  LoaderOptions opt{.batch_size = 10, .num_workers = 1, .prefetch = 2, .seed = 99};
  Loader one(ds, opt, transform);
  const EpochDump reference = run_epoch(one, 3);
  REQUIRE(reference.images.size() == 10);
  for (int workers : {0, 4}) {
    for (int prefetch : {1, 3}) {
      CAPTURE(workers);
      CAPTURE(prefetch);
      opt.num_workers = workers;
      opt.prefetch = prefetch;
      Loader other(ds, opt, transform);
      CHECK(same_bytes(run_epoch(other, 3), reference));
    }
  }
  // The same Loader gives the same epoch again, and a different one for another epoch.
  CHECK(same_bytes(run_epoch(one, 3), reference));
  const EpochDump next_epoch = run_epoch(one, 4);
  CHECK(next_epoch.indices != reference.indices);
  CHECK(next_epoch.images != reference.images);
  // Each batch's labels are its indices' labels.
  for (size_t k = 0; k < reference.indices.size(); ++k)
    for (size_t j = 0; j < reference.indices[k].size(); ++j) CHECK(reference.labels[k][j] == reference.indices[k][j] % 10);
}

TEST_CASE("data: loader with the simclr-gray preset on Fashion-MNIST is deterministic across thread counts") {
  // 96 test images are enough to exercise the real transforms; loading the 10,000-image
  // test split takes a fraction of a second.
  const Dataset full = load_fashion_mnist("test");
  const int64_t n = 96;
  const auto first = full.image(0);
  std::vector<uint8_t> px(first.data(), first.data() + n * full.image_numel());
  std::vector<int64_t> labels(full.labels().begin(), full.labels().begin() + n);
  const Dataset ds("fashion-mnist/test[:96]", 1, 28, 28, std::move(px), std::move(labels), 10);
  const augment::TransformPtr preset = augment::make_preset("simclr-gray");
  LoaderOptions opt{.batch_size = 32, .num_workers = 1, .seed = 2024};
  Loader one(ds, opt, preset);
  opt.num_workers = 4;
  Loader four(ds, opt, preset);
  const EpochDump a = run_epoch(one, 0);
  REQUIRE(a.images.size() == 3);
  CHECK(same_bytes(a, run_epoch(four, 0)));
  CHECK(a.images[0].size() == 2 * 32 * 28 * 28);
  // The two views of an image differ (random crops and jitter), and the views are not the
  // plain image: the preset did something.
  const std::vector<float>& rows = a.images[0];
  CHECK(!std::equal(rows.begin(), rows.begin() + 784, rows.begin() + 32 * 784));
  const std::vector<float> plain = floats_of(make_plain_batch(ds, std::vector<int64_t>{a.indices[0][0]}).images);
  CHECK(!std::equal(plain.begin(), plain.end(), rows.begin()));
}

TEST_CASE("data: drop_last decides whether the short last batch is kept; every image appears once") {
  const Dataset ds = synthetic(103);
  for (bool drop_last : {true, false}) {
    CAPTURE(drop_last);
    Loader loader(ds, {.batch_size = 10, .drop_last = drop_last, .num_workers = 2, .seed = 1}, nullptr);
    CHECK(loader.batches_per_epoch() == (drop_last ? 10 : 11));
    const EpochDump d = run_epoch(loader, 0);
    REQUIRE(d.indices.size() == static_cast<size_t>(loader.batches_per_epoch()));
    std::set<int64_t> seen;
    for (const auto& batch_indices : d.indices) seen.insert(batch_indices.begin(), batch_indices.end());
    CHECK(d.indices.back().size() == (drop_last ? 10u : 3u));
    CHECK(seen.size() == (drop_last ? 100u : 103u));
    CHECK(d.images.back().size() == d.indices.back().size() * 20);  // plain mode: [B, 1, 4, 5]
  }
  // No shuffle: dataset order, for evaluation.
  Loader ordered(ds, {.batch_size = 50, .shuffle = false, .drop_last = false, .num_workers = 1}, nullptr);
  const EpochDump d = run_epoch(ordered, 7);
  REQUIRE(d.indices.size() == 3);
  CHECK(d.indices[2] == std::vector<int64_t>{100, 101, 102});
  CHECK(d.images[0][20] == ds.image(1)[0] / 255.0f);
}

TEST_CASE("data: loader refuses bad options and use outside an epoch") {
  const Dataset ds = synthetic(9);
  CHECK(contains(message_of([&] { Loader l(ds, {.batch_size = 10}); }),
                 "Loader(synthetic): the dataset has 9 images, not enough for one batch of 10 with drop_last"));
  CHECK(Loader(ds, {.batch_size = 10, .drop_last = false}).batches_per_epoch() == 1);
  CHECK(contains(message_of([&] { Loader l(ds, {.batch_size = 0}); }), "batch_size must be positive, got 0"));
  CHECK(contains(message_of([&] { Loader l(ds, {.batch_size = 2, .num_workers = -1}); }), "num_workers must be >= 0"));
  CHECK(contains(message_of([&] { Loader l(ds, {.batch_size = 2, .prefetch = 0}); }), "prefetch must be >= 1"));
  Loader loader(ds, {.batch_size = 4});
  CHECK(contains(message_of([&] { loader.next(); }), "no epoch in progress"));
  CHECK(contains(message_of([&] { loader.start_epoch(-1); }), "epoch must be >= 0"));
  loader.start_epoch(0);
  CHECK(loader.next().has_value());
  CHECK(loader.next().has_value());
  CHECK(!loader.next().has_value());
  CHECK(!loader.next().has_value());  // stays finished
  CHECK(Loader::live_worker_threads() == 0);  // threads released at the end of the epoch
}

TEST_CASE("data: an exception in a worker reaches the consumer with its message, after the batches before it") {
  const Dataset ds = synthetic(40);
  // Sample 20 has first byte 20 * 13 % 256 = 4 (no other sample of 40 does).
  for (bool std_exception : {false, true}) {
    for (int workers : {0, 1, 3}) {
      CAPTURE(workers);
      CAPTURE(std_exception);
      auto transform = std::make_shared<ThrowOnSample>(4, std_exception);
      Loader loader(ds, {.batch_size = 4, .shuffle = false, .num_workers = workers, .prefetch = 3}, transform);
      loader.start_epoch(0);
      // Batches 0..4 (samples 0..19) are fine; batch 5 holds sample 20.
      for (int k = 0; k < 5; ++k) REQUIRE(loader.next().has_value());
      const std::string msg = message_of([&] { loader.next(); });
      CHECK(contains(msg, "Loader(synthetic): building batch 5 of epoch 0 failed: "));
      CHECK(contains(msg, std_exception ? "plain std::runtime_error from a transform" : "boom: transform refused this image"));
      CHECK(Loader::live_worker_threads() == 0);
      CHECK(contains(message_of([&] { loader.next(); }), "no epoch in progress"));
    }
  }
}

TEST_CASE("data: workers build at most `prefetch` batches ahead of the consumer") {
  const Dataset ds = synthetic(200);
  auto transform = std::make_shared<CountingTransform>();
  const int64_t batch = 4, prefetch = 3;
  Loader loader(ds, {.batch_size = batch, .num_workers = 4, .prefetch = prefetch}, transform);
  loader.start_epoch(0);
  // Waits until the workers have made `expected` transform calls (or 10 s pass, on a very
  // loaded machine), then gives them 100 ms more to overshoot if the bound were broken.
  auto calls_settle_at = [&](int64_t expected) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (transform->calls.load() < expected && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return transform->calls.load();
  };
  REQUIRE(loader.next().has_value());
  // 2 views per image: the batch taken plus `prefetch` more, never the whole epoch (50 batches).
  CHECK(calls_settle_at((1 + prefetch) * batch * 2) == (1 + prefetch) * batch * 2);
  REQUIRE(loader.next().has_value());
  CHECK(calls_settle_at((2 + prefetch) * batch * 2) == (2 + prefetch) * batch * 2);
}

TEST_CASE("data: destroying or stopping a loader mid-epoch with a full queue joins every worker") {
  // Shared, so the dataset outlives an abandoned (hung) thread if this test ever fails.
  const auto ds = std::make_shared<const Dataset>(synthetic(400));
  // Slow workers (1 ms per view), so some are mid-batch when the consumer quits.
  auto transform = std::make_shared<CountingTransform>(std::chrono::microseconds(1000));
  REQUIRE(Loader::live_worker_threads() == 0);
  const bool finished = finishes_within(
      [ds, transform] {
        {
          Loader loader(*ds, {.batch_size = 8, .num_workers = 4, .prefetch = 2}, transform);
          loader.start_epoch(0);
          REQUIRE(loader.next().has_value());
          std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the queue fills up
          CHECK(Loader::live_worker_threads() == 4);
        }  // destructor: stop and join
        CHECK(Loader::live_worker_threads() == 0);
        Loader loader(*ds, {.batch_size = 8, .num_workers = 3, .prefetch = 1}, transform);
        loader.start_epoch(0);
        REQUIRE(loader.next().has_value());
        loader.stop();
        CHECK(Loader::live_worker_threads() == 0);
        loader.stop();  // twice is fine
        CHECK(contains(message_of([&] { loader.next(); }), "no epoch in progress"));
        // A new epoch after a stop works, and restarting mid-epoch stops the old one first.
        loader.start_epoch(1);
        REQUIRE(loader.next().has_value());
        loader.start_epoch(2);
        const std::optional<Batch> b = loader.next();
        REQUIRE(b.has_value());
        CHECK(b->epoch == 2);
        CHECK(b->index == 0);
      },
      std::chrono::seconds(20));
  CHECK(finished);
  CHECK(Loader::live_worker_threads() == 0);
}

TEST_CASE("data: loader reports how long the consumer waited") {
  const Dataset ds = synthetic(48);
  // 0 workers: every batch is built inside next(), so the consumer waits for all of it:
  // 2 views x 8 images x 2 ms = at least 32 ms per batch.
  auto slow = std::make_shared<CountingTransform>(std::chrono::microseconds(2000));
  Loader loader(ds, {.batch_size = 8, .num_workers = 0}, slow);
  loader.start_epoch(0);
  while (loader.next()) {
  }
  const LoaderStats& s = loader.stats();
  CHECK(s.batches == 6);
  CHECK(s.mean_wait_s() >= 0.030);
  CHECK(s.max_wait_s >= s.last_wait_s);
  CHECK(s.total_wait_s >= 6 * 0.030);
}

TEST_CASE("data: pin_memory builds the same batches in page-locked memory (or says why it cannot)") {
  const Dataset ds = synthetic(12);
  if (!cuda_available()) {
    const std::string msg = message_of([&] { Loader loader(ds, {.batch_size = 4, .pin_memory = true}, nullptr); });
    CHECK(contains(msg, "pin_memory"));
    CHECK(contains(msg, cuda_unavailable_reason()));
    return;
  }
  auto transform = augment::make_preset("simclr-gray");
  Loader plain(ds, {.batch_size = 4, .shuffle = false, .num_workers = 1}, transform);
  Loader pinned(ds, {.batch_size = 4, .shuffle = false, .num_workers = 1, .pin_memory = true}, transform);
  plain.start_epoch(0);
  pinned.start_epoch(0);
  for (int k = 0; k < 3; ++k) {
    const Batch a = *plain.next(), b = *pinned.next();
    CHECK_FALSE(a.images.is_pinned());
    CHECK(b.images.is_pinned());
    CHECK(a.images.to_vector<float>() == b.images.to_vector<float>());
  }
}

// ---- views as plans (--augment-device cuda) ---------------------------------------------

TEST_CASE("data: a loader drawing plans hands over the views its plain loader makes, bit for bit") {
  // Fashion-MNIST with simclr-gray and a synthetic RGB set with simclr-rgb, so every step kind
  // the presets draw runs. The plans are run on the CPU here; tests/test_cuda_augment.cpp shows
  // the GPU runs them the same.
  const Dataset fashion = load_fashion_mnist("test");
  std::vector<uint8_t> px(fashion.image(0).data(), fashion.image(0).data() + 64 * fashion.image_numel());
  std::vector<int64_t> labels(fashion.labels().begin(), fashion.labels().begin() + 64);
  const Dataset gray("fashion-mnist/test[:64]", 1, 28, 28, std::move(px), std::move(labels), 10);
  const Dataset rgb = synthetic(64, 3, 32, 32);
  // No structured binding: clang 14 (the sanitizer build) cannot capture one in CAPTURE.
  for (const std::pair<const Dataset*, const char*>& run : {std::pair<const Dataset*, const char*>{&gray, "simclr-gray"},
                                                           std::pair<const Dataset*, const char*>{&rgb, "simclr-rgb"}}) {
    const Dataset* ds = run.first;
    const char* preset = run.second;
    CAPTURE(preset);
    const augment::TransformPtr transform = augment::make_preset(preset);
    LoaderOptions opt{.batch_size = 16, .num_workers = 2, .seed = 77};
    Loader views(*ds, opt, transform);
    opt.draw_plans = true;
    Loader plans(*ds, opt, transform);
    views.start_epoch(1);
    plans.start_epoch(1);
    int batches = 0;
    while (std::optional<Batch> a = views.next()) {
      std::optional<Batch> b = plans.next();
      REQUIRE(b.has_value());
      CHECK_FALSE(b->images.defined());
      REQUIRE(b->plans.has_value());
      CHECK(b->plans->plans.size() == 32);
      CHECK(b->indices == a->indices);
      CHECK(b->labels.to_vector<int64_t>() == a->labels.to_vector<int64_t>());
      const Tensor made = b->plans->run(Device::CPU);
      REQUIRE(made.shape() == a->images.shape());
      CHECK(std::memcmp(made.data<float>(), a->images.data<float>(), static_cast<size_t>(made.numel()) * sizeof(float)) == 0);
      ++batches;
    }
    CHECK(batches == 4);
    CHECK_FALSE(plans.next().has_value());
  }
}

TEST_CASE("data: drawing plans needs a transform that has a plan form") {
  const Dataset ds = synthetic(8);
  CHECK(contains(message_of([&] { Loader loader(ds, {.batch_size = 4, .draw_plans = true}, nullptr); }),
                 "draw_plans needs a transform"));
  // A transform without a plan form fails the batch, naming itself, when the batch is built.
  Loader loader(ds, {.batch_size = 4, .num_workers = 0, .draw_plans = true}, std::make_shared<AddUniform>());
  loader.start_epoch(0);
  CHECK(contains(message_of([&] { loader.next(); }), "has no plan form, so it cannot run on the GPU"));
}
