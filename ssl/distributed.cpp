#include "ssl/distributed.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>

#include "core/ops.h"

namespace sc::ssl {

uint64_t config_hash(const TrainConfig& config) {
  uint64_t h = 14695981039346656037ULL;  // FNV-1a: simple, and the same on every machine
  for (const unsigned char ch : config_to_json(config)) {
    h ^= ch;
    h *= 1099511628211ULL;
  }
  return h;
}

DataParallel setup_data_parallel(const TrainConfig& config, dist::CommunicatorPtr comm) {
  SC_CHECK(comm != nullptr, "setup_data_parallel: no communicator");
  DataParallel dp;
  dp.rank = comm->rank();
  dp.world_size = comm->world_size();
  dp.global_batch = config.batch_size;
  dp.comm = std::move(comm);
  const int64_t n = dp.world_size;
  // The same config on every rank, checked first: the checks below would otherwise disagree.
  if (n > 1) {
    const uint64_t mine = config_hash(config);
    std::vector<uint64_t> all(static_cast<size_t>(n));
    dp.comm->all_gather(&mine, all.data(), 1, DType::Int64, Device::CPU);
    std::string differing;
    for (int r = 0; r < n; ++r)
      if (all[static_cast<size_t>(r)] != all[0]) differing += (differing.empty() ? "" : ", ") + std::to_string(r);
    SC_CHECK(differing.empty(), "the ranks were started with different configs: rank(s) ", differing,
             " differ from rank 0 (config hashes all-gathered at the start); start every rank with the same "
             "flags and the same run folder");
  }
  SC_CHECK(config.batch_size % n == 0, "--batch-size ", config.batch_size, " is the global batch and must divide by ",
           "the number of ranks (", n, "); try --batch-size ", (config.batch_size / n + 1) * n);
  SC_CHECK(!config.sync_bn || n > 1, "--sync-bn needs more than one rank (start the run with mpirun -np N, N >= 2, ",
           "in a build with MPI", dist::mpi_built() ? "" : std::string("; this build has none: ") + dist::mpi_unavailable_reason(),
           "); with one process every BatchNorm already sees the whole batch (to resume a --sync-bn run in one ",
           "process, add --sync-bn=false)");
  dp.local_batch = config.batch_size / n;
  return dp;
}

void broadcast_from_root(nn::Module& model, dist::Communicator& comm) {
  if (comm.world_size() == 1) return;
  NoGradGuard no_grad;
  for (auto list : {model.named_parameters(), model.named_buffers()}) {
    for (auto& [name, t] : list) {
      SC_CHECK(t.is_contiguous(), "broadcast_from_root: '", name, "' ", t.describe(), " is not contiguous");
      broadcast_(t, comm, 0);
    }
  }
}

void average_gradients(const std::vector<std::pair<std::string, Tensor>>& parameters, dist::Communicator& comm) {
  if (comm.world_size() == 1) return;
  NoGradGuard no_grad;
  // One bucket per (dtype, device): in a float32 run on one device, a single all-reduce.
  std::map<std::pair<DType, Device>, std::vector<Tensor>> buckets;
  for (const auto& [name, p] : parameters) {
    Tensor g = p.grad();
    if (!g.defined()) {
      g = zeros(p.shape(), p.dtype(), p.device());
      Tensor param = p;
      param.set_grad(g);
    }
    buckets[{g.dtype(), g.device()}].push_back(g);
  }
  for (auto& [key, grads] : buckets) {
    std::vector<Tensor> flat;
    for (const Tensor& g : grads) flat.push_back(reshape(g, {g.numel()}));
    Tensor bucket = concat(flat, 0);
    all_reduce_sum_(bucket, comm);
    const double inv = 1.0 / static_cast<double>(comm.world_size());
    int64_t offset = 0;
    for (Tensor& g : grads) {
      g.copy_(reshape(mul(narrow(bucket, 0, offset, g.numel()), inv), g.shape()));
      offset += g.numel();
    }
  }
}

// ---- GradientReducer ------------------------------------------------------------------

GradientReducer::GradientReducer(std::vector<std::pair<std::string, Tensor>> parameters, dist::CommunicatorPtr comm,
                                 int64_t bucket_bytes)
    : parameters_(std::move(parameters)), comm_(std::move(comm)) {
  SC_CHECK(comm_ != nullptr, "GradientReducer: no communicator");
  SC_CHECK(bucket_bytes > 0, "GradientReducer: the bucket size must be > 0 bytes, got ", bucket_bytes);
  if (comm_->world_size() == 1) return;  // nothing to average: no buckets, no hooks
  std::map<const TensorImpl*, std::string> seen;  // a tensor listed twice would be counted twice
  for (const auto& [name, p] : parameters_) {
    SC_CHECK(p.defined() && p.is_leaf() && p.requires_grad(), "GradientReducer: parameter '", name, "' ",
             p.defined() ? p.describe() : std::string("(undefined)"), " is not a leaf that requires grad");
    const auto [it, inserted] = seen.emplace(p.impl(), name);
    SC_CHECK(inserted, "GradientReducer: parameter '", name, "' is the same tensor as '", it->second,
             "': list each parameter once");
  }
  // Reverse order: backward finishes the last layer's gradients first, so the first bucket is
  // complete (and started) earliest.
  bucket_of_.assign(parameters_.size(), 0);
  int64_t bytes_in_last = 0;
  for (size_t k = parameters_.size(); k-- > 0;) {
    const Tensor& p = parameters_[k].second;
    const int64_t bytes = p.numel() * static_cast<int64_t>(dtype_size(p.dtype()));
    bool new_bucket = buckets_.empty() || bytes_in_last + bytes > bucket_bytes;
    if (!new_bucket) {
      const Tensor& first = parameters_[buckets_.back().members.front()].second;
      new_bucket = first.dtype() != p.dtype() || first.device() != p.device();
    }
    if (new_bucket) {
      buckets_.emplace_back();
      bytes_in_last = 0;
    }
    Bucket& b = buckets_.back();
    b.offsets.push_back(b.members.empty() ? 0 : b.offsets.back() + parameters_[b.members.back()].second.numel());
    b.members.push_back(k);
    bucket_of_[k] = buckets_.size() - 1;
    bytes_in_last += bytes;
  }
  for (Bucket& b : buckets_) {
    const Tensor& first = parameters_[b.members.front()].second;
    b.flat = empty({b.offsets.back() + parameters_[b.members.back()].second.numel()}, first.dtype(), first.device());
    b.waiting_for = b.members.size();
  }
  ready_.assign(parameters_.size(), false);
  check_same_buckets_on_every_rank(bucket_bytes);
  for (size_t k = 0; k < parameters_.size(); ++k)
    hooks_.push_back(on_grad_ready(parameters_[k].second, [this, k](const Tensor&) { on_gradient_ready(k); }));
}

GradientReducer::~GradientReducer() {
  hooks_.clear();
  for (Bucket& b : buckets_) b.pending.reset();  // waits for a bucket still in flight
}

void GradientReducer::check_same_buckets_on_every_rank(int64_t bucket_bytes) {
  // One number for the layout (FNV-1a over sizes, dtypes and devices), all-gathered.
  uint64_t h = 14695981039346656037ULL;
  auto mix = [&h](int64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= static_cast<uint64_t>(v >> (8 * i)) & 0xff;
      h *= 1099511628211ULL;
    }
  };
  mix(bucket_bytes);
  mix(static_cast<int64_t>(buckets_.size()));
  for (const Bucket& b : buckets_) {
    mix(b.flat.numel());
    mix(static_cast<int64_t>(b.flat.dtype()));
    mix(static_cast<int64_t>(b.flat.device()));
    for (size_t k : b.members) mix(parameters_[k].second.numel());
  }
  const int n = comm_->world_size();
  std::vector<uint64_t> all(static_cast<size_t>(n));
  comm_->all_gather(&h, all.data(), 1, DType::Int64, Device::CPU);
  std::string differing;
  for (int r = 0; r < n; ++r)
    if (all[static_cast<size_t>(r)] != all[0]) differing += (differing.empty() ? "" : ", ") + std::to_string(r);
  SC_CHECK(differing.empty(), "the ranks cut the gradients into different buckets: rank(s) ", differing,
           " differ from rank 0 (this rank: ", buckets_.size(), " buckets of at most ", bucket_bytes,
           " bytes); every rank needs the same model and the same SC_DIST_BUCKET_MB");
}

std::vector<std::vector<std::string>> GradientReducer::bucket_names() const {
  std::vector<std::vector<std::string>> names;
  for (const Bucket& b : buckets_) {
    names.emplace_back();
    for (size_t k : b.members) names.back().push_back(parameters_[k].first);
  }
  return names;
}

void GradientReducer::on_gradient_ready(size_t parameter) {
  SC_CHECK(!ready_[parameter], "GradientReducer: the gradient of '", parameters_[parameter].first,
           "' was finished twice without finish() between: call finish() after every backward pass (two "
           "backward passes into the same gradients are not supported with several ranks)");
  ready_[parameter] = true;
  --buckets_[bucket_of_[parameter]].waiting_for;
  const size_t before = next_to_start_;
  start_ready_buckets();
  started_by_hooks_ += static_cast<int64_t>(next_to_start_ - before);
  drive_progress();
}

void GradientReducer::start_ready_buckets() {
  while (next_to_start_ < buckets_.size() && buckets_[next_to_start_].waiting_for == 0) start(buckets_[next_to_start_++]);
}

void GradientReducer::start(Bucket& bucket) {
  NoGradGuard no_grad;
  for (size_t i = 0; i < bucket.members.size(); ++i) {
    const Tensor& g = parameters_[bucket.members[i]].second.grad();
    narrow(bucket.flat, 0, bucket.offsets[i], g.numel()).copy_(reshape(g, {g.numel()}));
  }
  bucket.pending =
      comm_->start_all_reduce_sum(bucket.flat.raw_data(), bucket.flat.numel(), bucket.flat.dtype(), bucket.flat.device());
}

void GradientReducer::drive_progress() {
  for (size_t i = 0; i < next_to_start_; ++i)
    if (buckets_[i].pending) buckets_[i].pending->test();
}

void GradientReducer::finish() {
  if (buckets_.empty()) return;
  NoGradGuard no_grad;
  // Parameters this pass gave no gradient: zeros (or what .grad already holds, as in
  // average_gradients), so that every bucket is complete on every rank.
  for (size_t k = 0; k < parameters_.size(); ++k) {
    if (ready_[k]) continue;
    Tensor p = parameters_[k].second;
    if (!p.grad().defined()) p.set_grad(zeros(p.shape(), p.dtype(), p.device()));
    ready_[k] = true;
    --buckets_[bucket_of_[k]].waiting_for;
  }
  start_ready_buckets();
  SC_CHECK(next_to_start_ == buckets_.size(), "GradientReducer: bucket ", next_to_start_, " of ", buckets_.size(),
           " was not started (a bug in the reducer)");
  const double inv = 1.0 / static_cast<double>(comm_->world_size());
  for (Bucket& b : buckets_) {
    b.pending->wait();
    b.pending.reset();
    b.flat.storage().bump_version();  // written by the collective, behind the tensor's back
    for (size_t i = 0; i < b.members.size(); ++i) {
      Tensor g = parameters_[b.members[i]].second.grad();
      g.copy_(reshape(mul(narrow(b.flat, 0, b.offsets[i], g.numel()), inv), g.shape()));
    }
    b.waiting_for = b.members.size();
  }
  // Ready for the next pass.
  ready_.assign(parameters_.size(), false);
  next_to_start_ = 0;
  last_started_by_hooks_ = started_by_hooks_;
  started_by_hooks_ = 0;
}

int64_t gradient_bucket_bytes() {
  const char* v = std::getenv("SC_DIST_BUCKET_MB");
  double mib = kDefaultBucketMiB;
  if (v && *v) {
    char* end = nullptr;
    mib = std::strtod(v, &end);
    SC_CHECK(end && *end == '\0' && std::isfinite(mib) && mib > 0 && mib <= 4096, "SC_DIST_BUCKET_MB must be a ",
             "number of MiB in (0, 4096] (the size of the gradient buckets all-reduced during backward), got '", v, "'");
  }
  return std::max<int64_t>(1, static_cast<int64_t>(mib * 1024 * 1024));
}

double mean_over_ranks(double value, dist::Communicator& comm) {
  if (comm.world_size() == 1) return value;
  double v = value;
  comm.all_reduce_sum(&v, 1, DType::Float64, Device::CPU);
  return v / static_cast<double>(comm.world_size());
}

bool any_rank(bool flag, dist::Communicator& comm) {
  if (comm.world_size() == 1) return flag;
  int64_t v = flag ? 1 : 0;
  comm.all_reduce_sum(&v, 1, DType::Int64, Device::CPU);
  return v > 0;
}

namespace {
// The job's communicator, or null where even asking fails (mpirun with several ranks and a
// build without MPI: that error is the one being reported).
dist::Communicator* job_or_null() {
  try {
    return dist::world().get();
  } catch (const std::exception&) {
    return nullptr;
  }
}
}  // namespace

bool is_root_process() {
  const dist::Communicator* c = job_or_null();
  return !c || c->rank() == 0;
}

std::string rank_label() {
  const dist::Communicator* c = job_or_null();
  if (!c || c->world_size() == 1) return "";
  return " (rank " + std::to_string(c->rank()) + " of " + std::to_string(c->world_size()) + ")";
}

int end_job_after_error(int code) {
  dist::Communicator* c = job_or_null();
  if (c && c->world_size() > 1) c->abort_job(code);
  return code;
}

}  // namespace sc::ssl
