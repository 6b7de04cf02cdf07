#pragma once
// Inside dist/: how the backends reach each other. Not for use outside this folder.
#include <cstdint>
#include <functional>
#include <memory>

#include "dist/communicator.h"

namespace sc::dist::detail {

// The MPI world communicator (dist/mpi_communicator.cpp), or a throw in a build without MPI
// (dist/no_mpi.cpp).
CommunicatorPtr mpi_world();

// Collectives on CUDA buffers between the ranks of a job: NCCL (dist/nccl.cpp) in a build
// with CUDA and NCCL, a stand-in that throws otherwise (dist/no_nccl.cpp).
class DeviceCollectives {
 public:
  virtual ~DeviceCollectives() = default;
  virtual void all_reduce_sum(void* data, int64_t count, DType dtype) = 0;
  virtual std::unique_ptr<PendingCollective> start_all_reduce_sum(void* data, int64_t count, DType dtype) = 0;
  virtual void all_gather(const void* send, void* recv, int64_t count, DType dtype) = 0;
  virtual void broadcast(void* data, int64_t count, DType dtype, int root) = 0;
};

// Every rank calls this at the same point. `broadcast_from_root(bytes, n)` must broadcast n
// bytes from rank 0 to every rank (MPI_Bcast): it carries NCCL's unique id.
std::unique_ptr<DeviceCollectives> make_nccl_collectives(int rank, int world_size,
                                                        const std::function<void(void*, int64_t)>& broadcast_from_root);
// Whether this build has the NCCL backend, and why not.
bool nccl_built();
const char* nccl_unavailable_reason();

}  // namespace sc::dist::detail
