#pragma once
// The watchdog: a rank that waits too long in one collective ends the job instead of hanging.
//
// A dead rank is usually noticed by mpirun itself (OpenMPI ends the whole job when a rank
// exits without MPI_Finalize, naming the rank). A rank that hangs (a deadlock, a stuck disk,
// a stopped process) is not: the others would wait in their next collective forever. So
// every MPI collective runs inside a CollectiveWatch. One thread per process checks, every
// 100 ms, how long the current collective has been running; past the timeout it prints
//   error: rank 0 of 2 waited 300 s in collective #1234 (all_reduce_sum of 1000 float32):
//   another rank has died or hangs
// and ends the process with status 1, which makes mpirun end the other ranks.
#include <cstdint>
#include <string>

namespace sc::dist {

class CollectiveWatch {
 public:
  // `what` names the collective ("all_reduce_sum of 1000 float32"); rank and world size
  // go into the message.
  CollectiveWatch(const std::string& what, int rank, int world_size);
  ~CollectiveWatch();
  CollectiveWatch(const CollectiveWatch&) = delete;
  CollectiveWatch& operator=(const CollectiveWatch&) = delete;
};

// How many collectives this process has started (the #k in the message), and the seconds it
// has spent inside them in total (moving data, and waiting for the slowest rank to arrive).
int64_t collectives_started();
double collective_seconds();

}  // namespace sc::dist
