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
//   after backward the gradients are averaged over the ranks (average_gradients: one flat
//   buffer, one all-reduce, after backward has finished; not yet overlapped with it);
//   every rank then takes the same optimizer step, so the models stay identical;
//   rank 0 alone writes the run folder (checkpoints, metrics, plots, preview).
// So N ranks x B/N images give the loss, gradients and weights of one process with B images,
// up to float32 rounding (tests/test_distributed.cpp checks it under mpirun -np 2).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

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

// Each gradient replaced by its mean over the ranks (collective). The gradients are packed
// into one buffer per dtype and device, reduced with one all-reduce, and unpacked. A
// parameter without a gradient on this rank counts as zero.
void average_gradients(const std::vector<std::pair<std::string, Tensor>>& parameters, dist::Communicator& comm);

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
