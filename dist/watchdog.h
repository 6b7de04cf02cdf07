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
//
// A non-blocking collective (Communicator::start_all_reduce_sum) is watched twice: its start,
// which gets the next number, and later its wait, which keeps that number. In between the
// rank is not blocked, so nothing needs watching; the time in collectives counts only the two
// watched parts, the time this rank could not compute.
#include <cstdint>
#include <string>

namespace sc::dist {

class CollectiveWatch {
 public:
  // `what` names the collective ("all_reduce_sum of 1000 float32"); rank and world size
  // go into the message.
  CollectiveWatch(const std::string& what, int rank, int world_size);
  // The wait for collective #`number`, started earlier by a watch of its own.
  CollectiveWatch(const std::string& what, int rank, int world_size, int64_t number);
  ~CollectiveWatch();
  // This collective's number (the #k of the message).
  int64_t number() const { return number_; }
  CollectiveWatch(const CollectiveWatch&) = delete;
  CollectiveWatch& operator=(const CollectiveWatch&) = delete;

 private:
  int64_t number_ = 0;
};

// How many collectives this process has started (the #k in the message), and the seconds it
// has spent inside them in total (moving data, and waiting for the slowest rank to arrive).
int64_t collectives_started();
double collective_seconds();

}  // namespace sc::dist
