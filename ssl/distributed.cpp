#include "ssl/distributed.h"

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
