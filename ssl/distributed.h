#pragma once
// Data-parallel training: `mpirun -np N simclr train ...` runs N processes (ranks) that train
// one model together, as PyTorch's DistributedDataParallel does.
//
//   --batch-size B is the global batch: each rank builds B/N images of every batch (its shard,
//   LoaderOptions::shard_index) from the same epoch order one process would use;
//   at the start every parameter and buffer is broadcast from rank 0;
//   the method gathers the embeddings of all ranks (Method::gather_views), so its loss is the
//   loss of the global batch, negatives and batch statistics included;
//   --sync-bn makes every BatchNorm use the statistics of all ranks (sync_batch_norm);
//   the gradients are averaged over the ranks while backward runs (GradientReducer: buckets
//   all-reduced as soon as backward has finished their gradients, like DDP's);
//   every rank then takes the same optimizer step, so the models stay identical;
//   rank 0 alone writes the run folder (checkpoints, metrics, plots, preview).
// So N ranks x B/N images give the loss, gradients and weights of one process with B images,
// up to float32 rounding (tests/test_distributed.cpp checks it under mpirun -np 2).
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "dist/communicator.h"
#include "nn/module.h"
#include "ssl/config.h"

namespace sc::ssl {

struct DataParallel {
  dist::CommunicatorPtr comm;  // the job's (dist::world()), or the local one
  int rank = 0;
  int world_size = 1;
  int64_t global_batch = 0;  // --batch-size
  int64_t local_batch = 0;   // images per rank per step: global_batch / world_size
  bool is_root() const { return rank == 0; }
};

// The data-parallel set-up of a run on `comm`, after checking what only the world can check:
// the global batch divides by the world size, --sync-bn has more than one rank to sync, and
// every rank has the same config (its hash all-gathered; a rank that differs is named, and
// every rank throws the same error). Collective: every rank must call it.
DataParallel setup_data_parallel(const TrainConfig& config, dist::CommunicatorPtr comm);

// A stable 64-bit hash (FNV-1a) of the config's JSON, the same on every machine.
uint64_t config_hash(const TrainConfig& config);

// Every parameter and buffer of `model` set to rank 0's values (collective).
void broadcast_from_root(nn::Module& model, dist::Communicator& comm);

// Each gradient replaced by its mean over the ranks (collective), after backward: the
// gradients are packed into one buffer per dtype and device, reduced with one all-reduce, and
// unpacked. A parameter without a gradient on this rank counts as zero. The simple way, and
// the reference the GradientReducer below is tested against; train_step uses it when it is
// given no reducer.
void average_gradients(const std::vector<std::pair<std::string, Tensor>>& parameters, dist::Communicator& comm);

// ---- gradients averaged while backward runs ---------------------------------------------
// The same mean as average_gradients, but each bucket of gradients is all-reduced as soon as
// backward has finished it, while backward goes on with the layers below (as PyTorch's
// DistributedDataParallel does). Made once per run, used every step:
//
//   buckets   The parameters in reverse order (the order backward finishes them: the last
//             layer's first), cut into buckets of at most `bucket_bytes` (a parameter larger
//             than that is a bucket of its own; a change of dtype or device starts a new one).
//   backward  A gradient-ready hook (on_grad_ready, core/autograd.h) on every parameter counts
//             down its bucket. Bucket i is started (a non-blocking all-reduce,
//             Communicator::start_all_reduce_sum) once all its gradients are final and buckets
//             0 .. i-1 are started: every rank must start collectives in the same order, and
//             a bucket may complete before an earlier one. Each hook also lets the buckets in
//             flight make progress (PendingCollective::test).
//   finish()  After backward. A parameter that got no gradient in this pass counts as zeros
//             (other ranks may have one, and every rank must take part in every bucket, or
//             they would wait for each other forever); the buckets not yet started are started,
//             all are waited for, and each gradient becomes its bucket's sum / world size.
//
// With one rank it registers no hooks and finish() does nothing. With two ranks the result is
// bit-identical to average_gradients (each element is the same a + b, then the same * 1/2);
// with more, MPI may add the ranks in another order for another message size, so the two
// agree to float rounding. Every rank must build its reducer with the same parameters and
// bucket size: the constructor checks (a collective) and refuses on every rank otherwise.
// The buckets start at the same point of backward on every rank because every rank builds
// the same graph (every method here does; the collectives inside backward, the gathers' and
// sync BN's, need that already). A parameter that only some ranks use still works when no
// collective runs inside backward; otherwise their collectives could interleave differently.
class GradientReducer {
 public:
  GradientReducer(std::vector<std::pair<std::string, Tensor>> parameters, dist::CommunicatorPtr comm,
                  int64_t bucket_bytes);
  ~GradientReducer();  // waits for buckets still in flight: MPI owns their buffers until then
  GradientReducer(const GradientReducer&) = delete;  // the hooks point at this object
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Call after every backward pass (collective): see above.
  void finish();

  int64_t bucket_count() const { return static_cast<int64_t>(buckets_.size()); }
  // The parameter names in each bucket, in the order they are packed (for tests and docs).
  std::vector<std::vector<std::string>> bucket_names() const;
  // How many buckets the last finished pass started from hooks, that is before finish(): the
  // ones whose all-reduce overlapped the rest of backward.
  int64_t started_during_backward() const { return last_started_by_hooks_; }

 private:
  struct Bucket {
    std::vector<size_t> members;  // indices into parameters_, in packing order
    std::vector<int64_t> offsets;  // of each member in `flat`
    Tensor flat;                  // the packed gradients, all-reduced in place
    std::unique_ptr<dist::PendingCollective> pending;
    size_t waiting_for = 0;  // members whose gradient this pass has not finished yet
  };

  void on_gradient_ready(size_t parameter);
  void start_ready_buckets();  // buckets next_to_start_, ... while they are complete
  void start(Bucket& bucket);
  void drive_progress();
  void check_same_buckets_on_every_rank(int64_t bucket_bytes);

  std::vector<std::pair<std::string, Tensor>> parameters_;
  dist::CommunicatorPtr comm_;
  std::vector<size_t> bucket_of_;  // per parameter
  std::vector<bool> ready_;        // per parameter, this pass
  std::vector<Bucket> buckets_;
  size_t next_to_start_ = 0;
  int64_t started_by_hooks_ = 0;       // this pass, so far
  int64_t last_started_by_hooks_ = 0;  // the last finished pass
  std::vector<GradReadyHandle> hooks_;  // last: removed first, before the buckets go
};

// The bucket size for data-parallel runs: SC_DIST_BUCKET_MB in the environment (a number of
// MiB > 0, fractions allowed), else kDefaultBucketMiB. Throws sc::Error naming the variable for
// anything else.
inline constexpr double kDefaultBucketMiB = 0.25;
int64_t gradient_bucket_bytes();

// The mean of `value` over the ranks, and whether `flag` is set on any rank (collective).
double mean_over_ranks(double value, dist::Communicator& comm);
bool any_rank(bool flag, dist::Communicator& comm);

// For the program (ssl/cli_main.cpp). Whether this process is rank 0 of its job (true
// without mpirun); " (rank r of N)" under mpirun with several ranks, "" otherwise.
bool is_root_process();
std::string rank_label();
// After an error: under mpirun with several ranks, ends the whole job now (MPI_Abort with
// `code`), so no rank is left waiting in a collective for one that gave up; otherwise
// returns `code`.
int end_job_after_error(int code);

}  // namespace sc::ssl
