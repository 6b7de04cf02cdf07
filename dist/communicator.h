#pragma once
// The communicator: collectives between the processes of one job (ranks), for data-parallel
// training. Like kernels/, this layer sees raw buffers, never Tensor: core/ops/distributed.cpp
// gives it meaning (the all_gather op with its gradient, sync_batch_norm), nn/ and ssl/ use
// those ops. It knows nothing of SSL.
//
//   rank()          this process's index, 0 .. world_size() - 1
//   world_size()    how many processes take part
//   all_reduce_sum  data[i] = sum over the ranks of data[i], in place
//   all_gather      recv = [rank 0's send, rank 1's send, ...], `count` elements each
//   broadcast       data = root's data, in place
//   barrier         returns once every rank has called it
//   start_all_reduce_sum   all_reduce_sum that returns at once: the sum is there after the
//                   returned PendingCollective's wait(), and the work between (the rest of
//                   backward, for the gradient reducer in ssl/distributed.h) overlaps it
//
// Every rank must call the same collectives in the same order with the same counts, dtypes
// and devices (as in MPI). A buffer is `count` contiguous elements of `dtype` on `device`.
//
// Backends (pick one with world(); each is a Communicator):
//   local   world size 1: every collective is a copy or nothing (dist/communicator.cpp).
//           A build without MPI uses it, and so does a program not started by mpirun.
//   mpi     OpenMPI (dist/mpi_communicator.cpp, built with SC_MPI): CPU buffers through MPI;
//           CUDA buffers through NCCL (dist/nccl.cpp, built with CUDA and NCCL), whose
//           communicator is bootstrapped by broadcasting NCCL's unique id over MPI.
//
// A rank that dies or hangs must not leave the others waiting forever: each MPI collective
// is watched (dist/watchdog.h), and a rank that waits longer than the timeout prints which
// collective it was in and exits with status 1, which makes mpirun end the whole job. For a
// non-blocking collective the watched part is its start and its wait(): the only places a
// rank can block.
#include <cstdint>
#include <memory>
#include <string>

#include "base/device.h"
#include "base/dtype.h"

namespace sc::dist {

// A collective that has been started and may still be running (start_all_reduce_sum). Its
// buffer belongs to the collective until wait() returns: do not read, write or free it before.
class PendingCollective {
 public:
  virtual ~PendingCollective() = default;  // an unfinished one is waited for (MPI needs the buffer)
  // True once the collective has finished. Never blocks; with MPI it also lets the collective
  // make progress (OpenMPI moves a non-blocking collective's data only inside MPI calls).
  virtual bool test() = 0;
  // Returns once the collective has finished. Watched like a blocking collective: a rank
  // that waits here longer than collective_timeout() ends the job (dist/watchdog.h).
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // "local", "mpi" (CPU buffers; CUDA buffers go through NCCL when the build has it).
  virtual std::string backend() const = 0;

  virtual void all_reduce_sum(void* data, int64_t count, DType dtype, Device device) = 0;
  virtual void all_gather(const void* send, void* recv, int64_t count, DType dtype, Device device) = 0;
  virtual void broadcast(void* data, int64_t count, DType dtype, Device device, int root) = 0;
  virtual void barrier() = 0;

  // all_reduce_sum without waiting for it (MPI_Iallreduce; with NCCL, enqueued on a stream of
  // its own). The same rule as for every collective: every rank starts the same ones in the
  // same order, blocking and non-blocking alike. This default runs the blocking all_reduce_sum
  // and returns a finished collective, for backends with nothing better (the local one, tests).
  virtual std::unique_ptr<PendingCollective> start_all_reduce_sum(void* data, int64_t count, DType dtype,
                                                                  Device device);

  // Ends every rank of the job now (MPI_Abort) with `exit_code`, after this rank printed why.
  // For a failure on one rank while the others may be waiting in a collective. The local
  // backend just exits.
  [[noreturn]] virtual void abort_job(int exit_code) = 0;
};

using CommunicatorPtr = std::shared_ptr<Communicator>;

// A communicator of one process: rank 0 of world size 1.
CommunicatorPtr local_communicator();

// True when this build has the MPI backend (SC_MPI, dist/mpi_communicator.cpp).
bool mpi_built();
// Why MPI is not there ("built without MPI: ...") or "".
const char* mpi_unavailable_reason();
// True when this process was started by mpirun / mpiexec (OpenMPI, MPICH or PMI set the
// environment), whatever the build has.
bool launched_by_mpi();

// The job's communicator: the MPI world when the build has MPI and the process was launched
// by mpirun (MPI is initialised on the first call and finalised at exit), the local one
// otherwise. Throws sc::Error when the process was launched by mpirun with more than one rank
// but the build has no MPI (every rank would train alone on the whole data).
CommunicatorPtr world();

// Seconds a rank waits in one collective before it gives up and ends the job (dist/watchdog.h).
// Default 300; SC_DIST_TIMEOUT=<seconds> in the environment overrides it; set_collective_timeout
// too (<= 0: wait forever).
double collective_timeout();
void set_collective_timeout(double seconds);

}  // namespace sc::dist
