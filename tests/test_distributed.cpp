// Data-parallel training (dist/, core/ops/distributed.cpp, ssl/distributed.h).
//
// "dist: ..." cases run in one process (world size 1, or a pretend world for the checks).
// "distributed: ..." cases need two ranks: CTest runs them as
//   mpiexec -n 2 sc_tests -ts=distributed        (tests/CMakeLists.txt, when MPI is found)
// and in a plain sc_tests run they say so and pass.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/ops.h"
#include "dist/communicator.h"
#include "nn/layers.h"
#include "nn/schedule.h"
#include "nn/sgd.h"
#include "ssl/data/loader.h"
#include "ssl/distributed.h"
#include "ssl/method.h"
#include "ssl/trainer.h"
#include "tests/dataset_test_util.h"
#include "tests/test_util.h"

namespace fs = std::filesystem;

namespace sc::test {
namespace {

using ssl::TrainConfig;

// Largest |a - b| / (atol + rtol * |b|) (<= 1 passes), on the CPU in double.
double worst(const Tensor& a, const Tensor& b, double atol, double rtol) {
  const Tensor x = a.to(Device::CPU).to(DType::Float64).contiguous(), y = b.to(Device::CPU).to(DType::Float64).contiguous();
  REQUIRE(x.shape() == y.shape());
  double w = 0;
  for (int64_t i = 0; i < x.numel(); ++i)
    w = std::max(w, std::abs(x.data<double>()[i] - y.data<double>()[i]) / (atol + rtol * std::abs(y.data<double>()[i])));
  return w;
}

// A world that is not there: rank `rank` of `size`, where every other rank is assumed to send
// what this one sends, except rank `odd_rank` (if >= 0), whose all_gather words are changed.
class PretendWorld final : public dist::Communicator {
 public:
  PretendWorld(int rank, int size, int odd_rank = -1) : rank_(rank), size_(size), odd_(odd_rank) {}
  int rank() const override { return rank_; }
  int world_size() const override { return size_; }
  std::string backend() const override { return "pretend"; }
  void all_reduce_sum(void* data, int64_t count, DType dtype, Device) override {
    REQUIRE(dtype == DType::Float32);
    for (int64_t i = 0; i < count; ++i) static_cast<float*>(data)[i] *= static_cast<float>(size_);
  }
  void all_gather(const void* send, void* recv, int64_t count, DType dtype, Device) override {
    const size_t n = static_cast<size_t>(count) * dtype_size(dtype);
    for (int r = 0; r < size_; ++r) {
      unsigned char* slot = static_cast<unsigned char*>(recv) + r * n;
      std::memcpy(slot, send, n);
      if (r == odd_) slot[0] ^= 1;
    }
  }
  void broadcast(void*, int64_t, DType, Device, int) override {}
  void barrier() override {}
  [[noreturn]] void abort_job(int) override { throw Error("pretend abort"); }

 private:
  int rank_, size_, odd_;
};

// PretendWorld's sums, logged: "reduce <count>" for each all-reduce (the reducer's buckets
// start through the default start_all_reduce_sum, which runs all_reduce_sum at once).
class LoggingWorld final : public dist::Communicator {
 public:
  explicit LoggingWorld(std::vector<std::string>& log) : log_(log) {}
  int rank() const override { return 0; }
  int world_size() const override { return 2; }
  std::string backend() const override { return "logging"; }
  void all_reduce_sum(void* data, int64_t count, DType dtype, Device device) override {
    log_.push_back("reduce " + std::to_string(count));
    pretend_.all_reduce_sum(data, count, dtype, device);
  }
  void all_gather(const void* send, void* recv, int64_t count, DType dtype, Device device) override {
    pretend_.all_gather(send, recv, count, dtype, device);
  }
  void broadcast(void*, int64_t, DType, Device, int) override {}
  void barrier() override {}
  [[noreturn]] void abort_job(int) override { throw Error("pretend abort"); }

 private:
  std::vector<std::string>& log_;
  PretendWorld pretend_{0, 2};
};

// A small method (ConvNet w=4, 16-d embedding, 16-d predictor for BYOL) drawn from `seed`.
std::unique_ptr<ssl::Method> small_method(const std::string& name, uint64_t seed) {
  ssl::MethodOptions options;
  options.encoder = {"convnet", 4, 1};
  options.projection_dim = 16;
  ssl::HyperParameters given;
  if (name == "simclr") given = {{"temperature", 0.5}};
  if (name == "byol") given = {{"proj-hidden-dim", 16}, {"pred-hidden-dim", 16}};
  options.hyper = ssl::resolve_hyper_parameters(ssl::find_method(name), given);
  Generator gen(seed);
  return ssl::make_method(name, options, gen);
}

std::unique_ptr<ssl::Method> small_simclr(uint64_t seed) { return small_method("simclr", seed); }

// True when a and b hold the same bits (same shape and dtype).
bool same_bits(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) return a.defined() == b.defined();
  const Tensor x = a.contiguous().to(Device::CPU), y = b.contiguous().to(Device::CPU);
  return x.shape() == y.shape() && x.dtype() == y.dtype() &&
         std::memcmp(x.raw_data(), y.raw_data(), static_cast<size_t>(x.numel()) * dtype_size(x.dtype())) == 0;
}

nn::SGD sgd_for(const ssl::Method& method) {
  nn::ParamGroup group;
  for (const auto& [name, p] : method.trainable_parameters()) {
    group.names.push_back(name);
    group.params.push_back(p);
  }
  group.lr = 0.05;
  nn::SGDOptions o;
  o.momentum = 0.9;
  return nn::SGD({group}, o);
}

dist::CommunicatorPtr two_ranks_or_skip() {
  dist::CommunicatorPtr world = dist::world();
  if (world->world_size() != 2) {
    MESSAGE("skipped: needs exactly two ranks (mpiexec -n 2 sc_tests -ts=distributed); this run has ",
            world->world_size());
    return nullptr;
  }
  return world;
}

}  // namespace

// ---- one process ----------------------------------------------------------------------------

TEST_CASE("dist: the local communicator is rank 0 of 1; all_gather copies, broadcast checks its root") {
  dist::CommunicatorPtr c = dist::local_communicator();
  CHECK(c->rank() == 0);
  CHECK(c->world_size() == 1);
  float a[3] = {1, 2, 3}, b[3] = {0, 0, 0};
  c->all_reduce_sum(a, 3, DType::Float32, Device::CPU);
  CHECK(a[2] == 3);
  c->all_gather(a, b, 3, DType::Float32, Device::CPU);
  CHECK(b[1] == 2);
  CHECK_THROWS_WITH_AS(c->broadcast(a, 3, DType::Float32, Device::CPU, 1), doctest::Contains("root must be a rank in [0, 1)"),
                       Error);
  if (!dist::launched_by_mpi()) CHECK(dist::world()->world_size() == 1);
}

TEST_CASE("dist: sync_batch_norm with one rank equals batch_norm: output, gradients, running statistics") {
  Generator gen(5);
  dist::CommunicatorPtr local = dist::local_communicator();
  const Tensor x0 = add(mul(randn({6, 3, 2, 2}, gen, DType::Float64), 2.0), 1.0);
  const Tensor w0 = rand({3}, gen, DType::Float64, 0.5, 1.5), b0 = randn({3}, gen, DType::Float64);
  const Tensor r = randn({6, 3, 2, 2}, gen, DType::Float64);
  auto run = [&](bool sync) {
    Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_(), b = b0.clone().requires_grad_();
    Tensor rm = zeros({3}, DType::Float64), rv = ones({3}, DType::Float64);
    const Tensor y = sync ? sync_batch_norm(x, w, b, rm, rv, true, 0.1, 1e-5, *local)
                          : batch_norm(x, w, b, rm, rv, true, 0.1, 1e-5);
    sum(mul(y, r)).backward();
    return std::vector<Tensor>{y, x.grad(), w.grad(), b.grad(), rm, rv};
  };
  const auto plain = run(false), synced = run(true);
  const char* names[] = {"output", "dx", "dweight", "dbias", "running_mean", "running_var"};
  for (size_t i = 0; i < plain.size(); ++i) {
    INFO(names[i]);
    CHECK(worst(synced[i], plain[i], 1e-12, 1e-10) <= 1.0);
  }
}

TEST_CASE("dist: the loader's shards of each global batch, put together, are the one-process batch") {
  const ssl::Dataset data = test::random_gray_images(24, 1, 8, 4);
  ssl::LoaderOptions whole;
  whole.batch_size = 8;
  whole.num_workers = 0;
  whole.seed = 9;
  ssl::Loader one(data, whole, augment::make_preset("simclr-gray"));
  one.start_epoch(1);
  ssl::LoaderOptions half = whole;
  half.shard_count = 2;
  half.shard_index = 0;
  ssl::Loader first(data, half, augment::make_preset("simclr-gray"));
  half.shard_index = 1;
  ssl::Loader second(data, half, augment::make_preset("simclr-gray"));
  first.start_epoch(1);
  second.start_epoch(1);
  CHECK(first.batches_per_epoch() == one.batches_per_epoch());
  for (int64_t k = 0; k < one.batches_per_epoch(); ++k) {
    const ssl::Batch b = *one.next(), s0 = *first.next(), s1 = *second.next();
    REQUIRE(s0.images.size(0) == 8);  // 4 images, two views each
    // The global two-view layout: first views of all 8 images, then their second views.
    const Tensor joined = concat({narrow(s0.images, 0, 0, 4), narrow(s1.images, 0, 0, 4), narrow(s0.images, 0, 4, 4),
                                  narrow(s1.images, 0, 4, 4)});
    CHECK(worst(joined, b.images, 0, 0) == 0.0);
  }
  ssl::LoaderOptions bad = whole;
  bad.shard_count = 3;
  CHECK_THROWS_WITH_AS(ssl::Loader(data, bad), doctest::Contains("does not divide into 3 equal shards"), Error);
}

TEST_CASE("dist: setup_data_parallel refuses --sync-bn alone, a batch that does not divide, and differing configs") {
  TrainConfig c;
  c.batch_size = 16;
  c.sync_bn = true;
  CHECK_THROWS_WITH_AS(ssl::setup_data_parallel(c, dist::local_communicator()),
                       doctest::Contains("--sync-bn needs more than one rank"), Error);
  c.sync_bn = false;
  const ssl::DataParallel one = ssl::setup_data_parallel(c, dist::local_communicator());
  CHECK(one.local_batch == 16);
  CHECK_THROWS_WITH_AS(ssl::setup_data_parallel(c, std::make_shared<PretendWorld>(0, 3)),
                       doctest::Contains("--batch-size 16 is the global batch and must divide by the number of ranks (3)"),
                       Error);
  c.sync_bn = true;
  const ssl::DataParallel four = ssl::setup_data_parallel(c, std::make_shared<PretendWorld>(2, 4));
  CHECK(four.local_batch == 4);
  CHECK(four.rank == 2);
  CHECK_THROWS_WITH_AS(ssl::setup_data_parallel(c, std::make_shared<PretendWorld>(0, 4, 3)),
                       doctest::Contains("different configs: rank(s) 3 differ from rank 0"), Error);
  TrainConfig other = c;
  other.seed = 1;
  CHECK(ssl::config_hash(c) != ssl::config_hash(other));
}

TEST_CASE("dist: average_gradients divides the sum over the ranks by their number") {
  PretendWorld world(0, 4);  // its all-reduce multiplies by 4, as four equal ranks would
  Tensor p = zeros({3}).requires_grad_(), unused = zeros({2}).requires_grad_();
  sum(mul(p, from_vector(std::vector<float>{1, 2, 3}, {3}))).backward();
  ssl::average_gradients({{"p", p}, {"unused", unused}}, world);
  CHECK(worst(p.grad(), from_vector(std::vector<float>{1, 2, 3}, {3}), 0, 0) == 0.0);
  // A parameter with no gradient on this rank counts as zeros (the others may have one).
  REQUIRE(unused.grad().defined());
  CHECK(worst(unused.grad(), zeros({2}), 0, 0) == 0.0);
}

// Four parameters of 6, 2, 1 and 3 floats; with 16-byte buckets the reducer makes, in
// reverse order, {d, c} (4 floats), {b} (2) and {a} (6: larger than a bucket, alone).
struct FourParameters {
  Tensor a = from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {6}).requires_grad_();
  Tensor b = from_vector(std::vector<float>{0.5f, -1}, {2}).requires_grad_();
  Tensor c = from_vector(std::vector<float>{2}, {1}).requires_grad_();
  Tensor d = from_vector(std::vector<float>{1, -1, 0.25f}, {3}).requires_grad_();
  std::vector<std::pair<std::string, Tensor>> named() const { return {{"a", a}, {"b", b}, {"c", c}, {"d", d}}; }
  // A chain, as layers are: a first, d last (nearest the loss).
  Tensor loss(bool use_d) const {
    Tensor t = mul(sum(mul(a, 0.1)), sum(b));
    t = mul(t, sum(c));
    return use_d ? mul(t, sum(d)) : t;
  }
};

TEST_CASE("dist: GradientReducer buckets in reverse order and starts each bucket during backward") {
  std::vector<std::string> log;
  auto world = std::make_shared<LoggingWorld>(log);
  FourParameters p;
  ssl::GradientReducer reducer(p.named(), world, 16);
  CHECK(reducer.bucket_names() == std::vector<std::vector<std::string>>{{"d", "c"}, {"b"}, {"a"}});
  // The test's own hooks, registered after the reducer's, log when each gradient is final.
  std::vector<GradReadyHandle> logged;
  for (const auto& [name, t] : p.named()) logged.push_back(on_grad_ready(t, [&log, n = name](const Tensor&) {
    log.push_back("ready " + n);
  }));
  FourParameters reference;
  reference.loss(true).backward();
  p.loss(true).backward();
  // Bucket {d, c} is all-reduced as soon as c is final, before b's and a's gradients exist.
  // (The reducer's hook on c runs before the test's: it was registered first.)
  CHECK(log == std::vector<std::string>{"ready d", "reduce 4", "ready c", "reduce 2", "ready b", "reduce 6", "ready a"});
  log.clear();
  reducer.finish();
  CHECK(log.empty());  // nothing was left for finish() but the waiting
  CHECK(reducer.started_during_backward() == 3);
  // The pretend world's sum is 2 x this rank's gradient; the mean is the gradient itself.
  CHECK(same_bits(p.a.grad(), reference.a.grad()));
  CHECK(same_bits(p.d.grad(), reference.d.grad()));
  // A second step works the same way (the reducer resets after finish()).
  for (auto& [name, t] : p.named()) t.zero_grad();
  p.loss(true).backward();
  reducer.finish();
  CHECK(reducer.started_during_backward() == 3);
  CHECK(same_bits(p.b.grad(), reference.b.grad()));
}

TEST_CASE("dist: GradientReducer keeps the bucket order when a parameter gets no gradient") {
  std::vector<std::string> log;
  auto world = std::make_shared<LoggingWorld>(log);
  FourParameters p;
  ssl::GradientReducer reducer(p.named(), world, 16);
  p.loss(/*use_d=*/false).backward();
  // Buckets {b} and {a} are complete, but {d, c} waits for d, which never comes: starting them
  // first would put this rank's collectives out of order with a rank where d has a gradient.
  CHECK(log.empty());
  reducer.finish();
  CHECK(log == std::vector<std::string>{"reduce 4", "reduce 2", "reduce 6"});
  CHECK(reducer.started_during_backward() == 0);
  REQUIRE(p.d.grad().defined());  // zeros, the share of a rank that did not use it
  CHECK(same_bits(p.d.grad(), zeros({3})));
}

TEST_CASE("dist: GradientReducer refuses ranks with other buckets, and a second backward without finish()") {
  FourParameters p;
  // Rank 1's layout hash differs (PretendWorld flips a bit of its all_gather word).
  CHECK_THROWS_WITH_AS(ssl::GradientReducer(p.named(), std::make_shared<PretendWorld>(0, 2, 1), 16),
                       doctest::Contains("the ranks cut the gradients into different buckets: rank(s) 1 differ"), Error);
  CHECK_THROWS_WITH_AS(ssl::GradientReducer(p.named(), std::make_shared<PretendWorld>(0, 2), 0),
                       doctest::Contains("bucket size must be > 0"), Error);
  const Tensor not_a_leaf = mul(p.a, 2.0);
  CHECK_THROWS_WITH_AS(ssl::GradientReducer({{"twice_a", not_a_leaf}}, std::make_shared<PretendWorld>(0, 2), 16),
                       doctest::Contains("parameter 'twice_a'"), Error);
  CHECK_THROWS_WITH_AS(ssl::GradientReducer({{"a", p.a}, {"also_a", p.a}}, std::make_shared<PretendWorld>(0, 2), 16),
                       doctest::Contains("parameter 'also_a' is the same tensor as 'a'"), Error);
  ssl::GradientReducer reducer(p.named(), std::make_shared<PretendWorld>(0, 2), 16);
  p.loss(true).backward();
  CHECK_THROWS_WITH_AS(p.loss(true).backward(), doctest::Contains("was finished twice without finish() between"), Error);
  // With one rank there is nothing to do: no buckets, no hooks.
  ssl::GradientReducer alone(p.named(), dist::local_communicator(), 16);
  CHECK(alone.bucket_count() == 0);
}

TEST_CASE("dist: SC_DIST_BUCKET_MB sets the bucket size; anything but a size is refused, naming it") {
  const char* before = std::getenv("SC_DIST_BUCKET_MB");
  const std::string saved = before ? before : "";
  ::unsetenv("SC_DIST_BUCKET_MB");
  CHECK(ssl::gradient_bucket_bytes() == static_cast<int64_t>(ssl::kDefaultBucketMiB * 1024 * 1024));
  ::setenv("SC_DIST_BUCKET_MB", "2.5", 1);
  CHECK(ssl::gradient_bucket_bytes() == 2621440);
  for (const char* bad : {"abc", "0", "-1", "1e9", "4 MB", "nan"}) {
    ::setenv("SC_DIST_BUCKET_MB", bad, 1);
    CHECK_THROWS_WITH_AS(ssl::gradient_bucket_bytes(), doctest::Contains("SC_DIST_BUCKET_MB must be a number of MiB"),
                         Error);
  }
  if (before)
    ::setenv("SC_DIST_BUCKET_MB", saved.c_str(), 1);
  else
    ::unsetenv("SC_DIST_BUCKET_MB");
}

// ---- two ranks (mpiexec -n 2 sc_tests -ts=distributed) --------------------------------------

TEST_SUITE("distributed") {

TEST_CASE("distributed: all-reduce, all-gather, broadcast and barrier on two ranks") {
  dist::CommunicatorPtr world = two_ranks_or_skip();
  if (!world) return;
  const int r = world->rank();
  double v[2] = {1.0 + r, 10.0 * r};
  world->all_reduce_sum(v, 2, DType::Float64, Device::CPU);
  CHECK(v[0] == 3.0);
  CHECK(v[1] == 10.0);
  int64_t mine[2] = {r, 100 + r}, all[4] = {};
  world->all_gather(mine, all, 2, DType::Int64, Device::CPU);
  CHECK(all[0] == 0);
  CHECK(all[1] == 100);
  CHECK(all[2] == 1);
  CHECK(all[3] == 101);
  float b[1] = {r == 1 ? 7.0f : 0.0f};
  world->broadcast(b, 1, DType::Float32, Device::CPU, 1);
  CHECK(b[0] == 7.0f);
  world->barrier();
  // A shape that differs between the ranks is refused on both, naming the other rank.
  const Tensor x = zeros({2 + r, 3});
  CHECK_THROWS_WITH_AS(all_gather(x, *world), doctest::Contains("every rank must pass the same shape"), Error);
}

TEST_CASE("distributed: all_gather's gradient on two ranks equals one process's on the concatenated batch") {
  dist::CommunicatorPtr world = two_ranks_or_skip();
  if (!world) return;
  const int r = world->rank();
  Generator gen(11);  // the same draws on both ranks: every rank knows the whole batch
  const Tensor whole = randn({6, 4}, gen, DType::Float64), weights = randn({6, 6}, gen, DType::Float64);
  // A loss that mixes rows (like NT-Xent): each rank computes it on the gathered tensor.
  auto loss_of = [&](const Tensor& z) { return sum(mul(matmul(z, transpose(z, 0, 1)), weights)); };
  Tensor mine = narrow(whole, 0, 3 * r, 3).clone().requires_grad_();
  const Tensor gathered = all_gather(mine, *world);
  CHECK(worst(gathered, whole, 0, 0) == 0.0);
  loss_of(gathered).backward();
  Tensor ref = whole.clone().requires_grad_();
  loss_of(ref).backward();
  // Each rank's gradient is world_size x its rows of dL/dz: the trainer's average over the
  // ranks then gives exactly dL/dtheta (core/ops.h, all_gather).
  CHECK(worst(mine.grad(), mul(narrow(ref.grad(), 0, 3 * r, 3), 2.0), 1e-12, 1e-12) <= 1.0);
}

TEST_CASE("distributed: sync_batch_norm on two ranks equals batch_norm on the concatenated batch") {
  dist::CommunicatorPtr world = two_ranks_or_skip();
  if (!world) return;
  const int r = world->rank();
  Generator gen(12);
  const Tensor x_all = add(mul(randn({8, 3, 2, 2}, gen, DType::Float64), 2.0), 1.0);
  const Tensor w0 = rand({3}, gen, DType::Float64, 0.5, 1.5), b0 = randn({3}, gen, DType::Float64);
  const Tensor r_all = randn({8, 3, 2, 2}, gen, DType::Float64);
  // One process, the whole batch: L = sum(y * r).
  Tensor x = x_all.clone().requires_grad_(), w = w0.clone().requires_grad_(), b = b0.clone().requires_grad_();
  Tensor rm = zeros({3}, DType::Float64), rv = ones({3}, DType::Float64);
  const Tensor y = batch_norm(x, w, b, rm, rv, true, 0.1, 1e-5);
  sum(mul(y, r_all)).backward();
  // Two ranks, four rows each: L_r = sum(y_r * r_r), and L = L_0 + L_1.
  Tensor xr = narrow(x_all, 0, 4 * r, 4).clone().requires_grad_();
  Tensor wr = w0.clone().requires_grad_(), br = b0.clone().requires_grad_();
  Tensor rmr = zeros({3}, DType::Float64), rvr = ones({3}, DType::Float64);
  const Tensor yr = sync_batch_norm(xr, wr, br, rmr, rvr, true, 0.1, 1e-5, *world);
  sum(mul(yr, narrow(r_all, 0, 4 * r, 4))).backward();
  CHECK(worst(yr, narrow(y, 0, 4 * r, 4), 1e-12, 1e-10) <= 1.0);
  CHECK(worst(xr.grad(), narrow(x.grad(), 0, 4 * r, 4), 1e-12, 1e-10) <= 1.0);
  CHECK(worst(rmr, rm, 1e-12, 1e-10) <= 1.0);
  CHECK(worst(rvr, rv, 1e-12, 1e-10) <= 1.0);
  // The weight and bias gradients are each rank's share: their sum over the ranks is dL/dw.
  Tensor dw = wr.grad().clone(), db = br.grad().clone();
  all_reduce_sum_(dw, *world);
  all_reduce_sum_(db, *world);
  CHECK(worst(dw, w.grad(), 1e-12, 1e-10) <= 1.0);
  CHECK(worst(db, b.grad(), 1e-12, 1e-10) <= 1.0);
}

TEST_CASE("distributed: 2 ranks x B give the loss, gradients and weights of 1 rank x 2B for 3 SimCLR steps") {
  dist::CommunicatorPtr world = two_ranks_or_skip();
  if (!world) return;
  const int r = world->rank();
  constexpr int64_t B = 4;  // images per rank; the global batch is 8
  // Both ranks also train the one-process reference on the whole batch, so each compares locally.
  std::unique_ptr<ssl::Method> reference = small_simclr(21), parallel = small_simclr(21);
  parallel->set_communicator(world, /*sync_batch_norm=*/true);
  nn::SGD reference_sgd = sgd_for(*reference), parallel_sgd = sgd_for(*parallel);
  // Gradients averaged during backward, as train() does, in 2 KiB buckets (several).
  ssl::GradientReducer reducer(parallel->trainable_parameters(), world, 2048);
  CHECK(reducer.bucket_count() >= 3);
  const nn::WarmupCosineSchedule schedule(0, 3);
  reference->train();
  parallel->train();
  Generator gen(22);
  // Float32, and the two sides sum in different orders (a GEMM over 16 rows against two of 8
  // plus an all-reduce; BN statistics in double either way): they agree to rounding, which
  // grows a little over the steps. 1e-4 relative (plus 1e-6 absolute for values near zero) is
  // about 1000 float32 ulps, far below any real difference (a missed gather or unsynced BN
  // changes the loss in the second digit). SGD, not Adam: Adam's first step divides by |g|,
  // which would blow up rounding on gradients that are zero up to rounding (biases before BN).
  // Gradients, weights and statistics are compared per tensor: |two - one| <= rtol * |one| +
  // scale_tol * max|one| over the tensor, because a float32 sum's rounding error scales with
  // its largest terms, not with the (possibly tiny) element (measured: gradients within
  // 1.2e-6 of a tensor whose largest entry is 1.2, i.e. 1e-6 of its scale).
  constexpr double atol = 1e-6, rtol = 1e-4, scale_tol = 1e-5;
  auto worst_scaled = [&](const Tensor& two, const Tensor& one) {
    const double scale = max(abs(one.to(DType::Float64))).item();
    return worst(two, one, scale_tol * scale + 1e-12, rtol);
  };
  for (int64_t step = 0; step < 3; ++step) {
    const Tensor views = randn({4 * B, 1, 16, 16}, gen);  // 2B images: first views, then second views
    const Tensor mine = concat({narrow(views, 0, r * B, B), narrow(views, 0, 2 * B + r * B, B)});
    const ssl::StepResult one = ssl::train_step(*reference, reference_sgd, schedule, views, step);
    const ssl::StepResult two = ssl::train_step(*parallel, parallel_sgd, schedule, mine, step, {}, &reducer);
    INFO("step ", step, ": loss ", one.loss, " (one process) vs ", two.loss, " (two ranks)");
    CHECK(std::abs(two.loss - one.loss) <= atol + rtol * std::abs(one.loss));
  }
  double worst_grad = 0, worst_param = 0, worst_buffer = 0;
  const auto ref_params = reference->named_parameters(), par_params = parallel->named_parameters();
  REQUIRE(ref_params.size() == par_params.size());
  for (size_t i = 0; i < ref_params.size(); ++i) {
    INFO("parameter ", ref_params[i].first);
    worst_grad = std::max(worst_grad, worst_scaled(par_params[i].second.grad(), ref_params[i].second.grad()));
    worst_param = std::max(worst_param, worst_scaled(par_params[i].second, ref_params[i].second));
  }
  const auto ref_buffers = reference->named_buffers(), par_buffers = parallel->named_buffers();
  for (size_t i = 0; i < ref_buffers.size(); ++i)
    if (is_floating(ref_buffers[i].second.dtype()))
      worst_buffer = std::max(worst_buffer, worst_scaled(par_buffers[i].second, ref_buffers[i].second));
  MESSAGE("rank ", r, ": worst |2 ranks - 1 rank| / (", rtol, " |1 rank| + ", scale_tol,
          " max |1 rank| of the tensor) after 3 steps: gradients ",
          worst_grad, ", parameters ", worst_param, ", BN running statistics ", worst_buffer);
  CHECK(worst_grad <= 1.0);
  CHECK(worst_param <= 1.0);
  CHECK(worst_buffer <= 1.0);
  // The check above can fail: one rank alone on its shard (no gathered negatives, no synced
  // BN) gives a clearly different loss from the whole batch's.
  std::unique_ptr<ssl::Method> alone = small_simclr(21), whole = small_simclr(21);
  alone->train();
  whole->train();
  const Tensor views = randn({4 * B, 1, 16, 16}, gen);
  const Tensor mine = concat({narrow(views, 0, r * B, B), narrow(views, 0, 2 * B + r * B, B)});
  const double whole_loss = whole->forward_views(views).loss.item();
  const double local_loss = alone->forward_views(mine).loss.item();
  CHECK(std::abs(local_loss - whole_loss) > 1e-3 * std::abs(whole_loss));
}

TEST_CASE("distributed: gradients averaged during backward in buckets are bit-identical to after it (SimCLR, BYOL)") {
  dist::CommunicatorPtr world = two_ranks_or_skip();
  if (!world) return;
  const int r = world->rank();
  for (const std::string method : {"simclr", "byol"}) {
    INFO("method ", method);
    // The same model twice on each rank: one averages after backward in one all-reduce
    // (average_gradients), the other during backward in 2 KiB buckets.
    std::unique_ptr<ssl::Method> after = small_method(method, 31), during = small_method(method, 31);
    after->set_communicator(world, /*sync_batch_norm=*/true);
    during->set_communicator(world, /*sync_batch_norm=*/true);
    nn::SGD after_sgd = sgd_for(*after), during_sgd = sgd_for(*during);
    ssl::GradientReducer reducer(during->trainable_parameters(), world, 2048);
    CHECK(reducer.bucket_count() >= 3);
    const nn::WarmupCosineSchedule schedule(0, 3);
    after->train();
    during->train();
    Generator gen(32 + static_cast<uint64_t>(r));  // each rank its own images
    for (int64_t step = 0; step < 3; ++step) {
      const Tensor views = randn({8, 1, 16, 16}, gen);
      const double after_loss = ssl::train_step(*after, after_sgd, schedule, views, step).loss;
      const double during_loss = ssl::train_step(*during, during_sgd, schedule, views, step, {}, &reducer).loss;
      CHECK(during_loss == after_loss);
      // Some buckets were all-reduced while backward was still running.
      CHECK(reducer.started_during_backward() >= 1);
    }
    const auto after_params = after->named_parameters(), during_params = during->named_parameters();
    REQUIRE(after_params.size() == during_params.size());
    int differing = 0;
    for (size_t i = 0; i < after_params.size(); ++i) {
      INFO("parameter ", after_params[i].first);
      CHECK(same_bits(during_params[i].second.grad(), after_params[i].second.grad()));
      CHECK(same_bits(during_params[i].second, after_params[i].second));
      differing += !same_bits(during_params[i].second, after_params[i].second);
    }
    MESSAGE("rank ", r, ", ", method, ": ", reducer.bucket_count(), " buckets, ", reducer.started_during_backward(),
            " started during the last backward; parameters not bit-identical after 3 steps: ", differing);
    // BYOL's target network is outside the reducer (not trainable) and follows by EMA alike.
    if (method == "byol") CHECK(after_params.size() > during->trainable_parameters().size());
  }
}

TEST_CASE("distributed: a parameter only one rank uses still takes part in its bucket (no hang)") {
  dist::CommunicatorPtr world = two_ranks_or_skip();
  if (!world) return;
  const int r = world->rank();
  // `sometimes` is registered last, so it is in the first bucket; rank 1 never gives it a gradient.
  Tensor always = from_vector(std::vector<float>{1, 2, 3, 4}, {4}).requires_grad_();
  Tensor sometimes = from_vector(std::vector<float>{1, 1}, {2}).requires_grad_();
  ssl::GradientReducer reducer({{"always", always}, {"sometimes", sometimes}}, world, 8);
  REQUIRE(reducer.bucket_names() == std::vector<std::vector<std::string>>{{"sometimes"}, {"always"}});
  Tensor loss = sum(mul(always, static_cast<double>(r + 1)));
  if (r == 0) loss = add(loss, sum(mul(sometimes, 4.0)));
  loss.backward();
  reducer.finish();
  CHECK(reducer.started_during_backward() == (r == 0 ? 2 : 0));
  CHECK(same_bits(always.grad(), full({4}, 1.5)));     // (1 + 2) / 2
  CHECK(same_bits(sometimes.grad(), full({2}, 2.0)));  // (4 + 0) / 2
}

TEST_CASE("distributed: a two-rank run writes one run folder: one checkpoint, one metrics record per step") {
  dist::CommunicatorPtr world = two_ranks_or_skip();
  if (!world) return;
  // One folder for both ranks: rank 0's process id names it.
  int64_t id = ::getpid();
  world->broadcast(&id, 1, DType::Int64, Device::CPU, 0);
  const fs::path out = fs::temp_directory_path() / ("sc_distributed_run_" + std::to_string(id));
  if (world->rank() == 0) fs::remove_all(out);
  world->barrier();
  ssl::TrainData data;
  data.train = test::random_gray_images(32, 3, 16, 4);
  TrainConfig c;
  c.width = 4;
  c.projection_dim = 16;
  c.batch_size = 8;  // 4 per rank, 4 steps per epoch
  c.epochs = 1;
  c.workers = 0;
  c.knn_k = 0;
  c.sync_bn = true;
  c.out_dir = out.string();
  ssl::TrainHooks hooks;
  hooks.quiet = true;
  const ssl::TrainResult result = ssl::train(c, data, ssl::StartMode::New, hooks);
  CHECK(result.steps == 4);
  world->barrier();  // rank 0 has written everything
  int checkpoints = 0;
  for (const auto& entry : fs::directory_iterator(out)) checkpoints += entry.path().extension() == ".ckpt";
  CHECK(checkpoints == 1);
  std::ifstream metrics(out / "metrics.jsonl");
  int step_records = 0;
  for (std::string line; std::getline(metrics, line);) step_records += line.find("\"type\":\"step\"") != std::string::npos;
  CHECK(step_records == 4);
  world->barrier();
  if (world->rank() == 0) fs::remove_all(out);
}

}  // TEST_SUITE("distributed")

}  // namespace sc::test
