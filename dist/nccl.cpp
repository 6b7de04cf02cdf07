// The NCCL backend for CUDA buffers (built when CUDA and NCCL are found; dist/no_nccl.cpp
// stands in otherwise). One NCCL communicator per process, over all ranks, made by
// ncclCommInitRank from a unique id that rank 0 draws and MPI broadcasts. Every call runs on
// the one stream all kernels use (kernels/cuda/stream.h), so a collective is ordered after
// the kernels that wrote its buffer and before those that read it, with no extra sync.
#include <cuda_runtime.h>
#include <nccl.h>

#include <cstdlib>
#include <string>

#include "base/error.h"
#include "dist/backends.h"
#include "dist/watchdog.h"
#include "kernels/cuda/stream.h"

namespace sc::dist::detail {

namespace {

void check_nccl(ncclResult_t r, const char* what) {
  SC_CHECK(r == ncclSuccess, "NCCL ", what, " failed: ", ncclGetErrorString(r));
}

ncclDataType_t nccl_type(DType dtype) {
  switch (dtype) {
    case DType::Float32: return ncclFloat32;
    case DType::Float64: return ncclFloat64;
    case DType::Int64: return ncclInt64;
    case DType::Int32: return ncclInt32;
  }
  throw Error("NCCL communicator: unknown dtype");
}

class NcclCollectives final : public DeviceCollectives {
 public:
  NcclCollectives(int rank, int world_size, const std::function<void(void*, int64_t)>& broadcast_from_root)
      : rank_(rank), size_(world_size) {
    ncclUniqueId id;
    if (rank == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    broadcast_from_root(&id, sizeof id);
    check_nccl(ncclCommInitRank(&comm_, world_size, id, rank), "ncclCommInitRank");
  }
  ~NcclCollectives() override { ncclCommDestroy(comm_); }

  void all_reduce_sum(void* data, int64_t count, DType dtype) override {
    const CollectiveWatch watch("NCCL all_reduce_sum", rank_, size_);
    check_nccl(ncclAllReduce(data, data, static_cast<size_t>(count), nccl_type(dtype), ncclSum, comm_,
                             kernels::cuda::stream()),
               "all_reduce_sum");
    wait();
  }
  void all_gather(const void* send, void* recv, int64_t count, DType dtype) override {
    const CollectiveWatch watch("NCCL all_gather", rank_, size_);
    check_nccl(ncclAllGather(send, recv, static_cast<size_t>(count), nccl_type(dtype), comm_, kernels::cuda::stream()),
               "all_gather");
    wait();
  }
  void broadcast(void* data, int64_t count, DType dtype, int root) override {
    const CollectiveWatch watch("NCCL broadcast", rank_, size_);
    check_nccl(ncclBroadcast(data, data, static_cast<size_t>(count), nccl_type(dtype), root, comm_,
                             kernels::cuda::stream()),
               "broadcast");
    wait();
  }

 private:
  // The watchdog times the collective itself, so the host waits for it here. This costs the
  // overlap of a collective with later kernels; the trainer has none to overlap yet.
  void wait() {
    const cudaError_t e = cudaStreamSynchronize(kernels::cuda::stream());
    SC_CHECK(e == cudaSuccess, "NCCL collective: ", cudaGetErrorString(e));
  }

  int rank_, size_;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

bool nccl_built() { return true; }
const char* nccl_unavailable_reason() { return ""; }

std::unique_ptr<DeviceCollectives> make_nccl_collectives(int rank, int world_size,
                                                        const std::function<void(void*, int64_t)>& broadcast_from_root) {
  return std::make_unique<NcclCollectives>(rank, world_size, broadcast_from_root);
}

}  // namespace sc::dist::detail
