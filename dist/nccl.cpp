// The NCCL backend for CUDA buffers (built when CUDA and NCCL are found; dist/no_nccl.cpp
// stands in otherwise). One NCCL communicator per process, over all ranks, made by
// ncclCommInitRank from a unique id that rank 0 draws and MPI broadcasts.
//
// Streams: every kernel runs on one compute stream (kernels/cuda/stream.h); every NCCL call
// runs on a stream of its own (nccl_stream_), so that a non-blocking all-reduce overlaps the
// kernels enqueued after it. One stream for all NCCL calls keeps them in the order they were
// made, which is the same on every rank. Before each call, the NCCL stream waits for an event
// recorded on the compute stream, so the collective starts after the kernels that wrote its
// buffer. After a blocking call the host waits for the NCCL stream; a non-blocking one is
// waited for in PendingCollective::wait(). Either way, the host has seen the collective finish
// before it enqueues any kernel that reads the buffer.
#include <cuda_runtime.h>
#include <nccl.h>

#include <cstdlib>
#include <string>
#include <utility>

#include "base/error.h"
#include "dist/backends.h"
#include "dist/watchdog.h"
#include "kernels/cuda/stream.h"

namespace sc::dist::detail {

namespace {

void check_nccl(ncclResult_t r, const char* what) {
  SC_CHECK(r == ncclSuccess, "NCCL ", what, " failed: ", ncclGetErrorString(r));
}

void check_cuda(cudaError_t e, const char* what) {
  SC_CHECK(e == cudaSuccess, "NCCL collective: ", what, ": ", cudaGetErrorString(e));
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

// A non-blocking all-reduce enqueued on the NCCL stream; `done` is recorded right after it.
class NcclPendingCollective final : public PendingCollective {
 public:
  NcclPendingCollective(cudaEvent_t done, std::string what, int64_t number, int rank, int world_size)
      : done_(done), what_(std::move(what)), number_(number), rank_(rank), size_(world_size) {}
  ~NcclPendingCollective() override {
    try {
      wait();
    } catch (const std::exception&) {
      // A destructor must not throw; a failed CUDA context fails the next call anyway.
    }
    cudaEventDestroy(done_);
  }

  bool test() override {
    if (finished_) return true;
    const cudaError_t e = cudaEventQuery(done_);
    if (e == cudaErrorNotReady) {
      // "Not yet" is an answer, not an error: do not leave it behind for cudaGetLastError.
      if (cudaPeekAtLastError() == cudaErrorNotReady) cudaGetLastError();
      return false;
    }
    check_cuda(e, "cudaEventQuery");
    finished_ = true;
    return true;
  }
  void wait() override {
    if (finished_) return;
    const CollectiveWatch watch("waiting for the " + what_, rank_, size_, number_);
    check_cuda(cudaEventSynchronize(done_), "cudaEventSynchronize");
    finished_ = true;
  }

 private:
  cudaEvent_t done_;
  std::string what_;
  int64_t number_;
  int rank_, size_;
  bool finished_ = false;
};

class NcclCollectives final : public DeviceCollectives {
 public:
  NcclCollectives(int rank, int world_size, const std::function<void(void*, int64_t)>& broadcast_from_root)
      : rank_(rank), size_(world_size) {
    ncclUniqueId id;
    if (rank == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    broadcast_from_root(&id, sizeof id);
    check_nccl(ncclCommInitRank(&comm_, world_size, id, rank), "ncclCommInitRank");
    check_cuda(cudaStreamCreateWithFlags(&nccl_stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    check_cuda(cudaEventCreateWithFlags(&inputs_written_, cudaEventDisableTiming), "cudaEventCreate");
  }
  ~NcclCollectives() override {
    ncclCommDestroy(comm_);
    cudaEventDestroy(inputs_written_);
    cudaStreamDestroy(nccl_stream_);
  }

  void all_reduce_sum(void* data, int64_t count, DType dtype) override {
    const CollectiveWatch watch("NCCL all_reduce_sum", rank_, size_);
    after_compute();
    check_nccl(ncclAllReduce(data, data, static_cast<size_t>(count), nccl_type(dtype), ncclSum, comm_, nccl_stream_),
               "all_reduce_sum");
    wait_for_nccl_stream();
  }
  std::unique_ptr<PendingCollective> start_all_reduce_sum(void* data, int64_t count, DType dtype) override {
    const std::string what = "NCCL non-blocking all_reduce_sum of " + std::to_string(count) + " " + dtype_name(dtype);
    const CollectiveWatch watch(what, rank_, size_);
    after_compute();
    check_nccl(ncclAllReduce(data, data, static_cast<size_t>(count), nccl_type(dtype), ncclSum, comm_, nccl_stream_),
               "all_reduce_sum");
    cudaEvent_t done = nullptr;
    check_cuda(cudaEventCreateWithFlags(&done, cudaEventDisableTiming), "cudaEventCreate");
    check_cuda(cudaEventRecord(done, nccl_stream_), "cudaEventRecord");
    return std::make_unique<NcclPendingCollective>(done, what, watch.number(), rank_, size_);
  }
  void all_gather(const void* send, void* recv, int64_t count, DType dtype) override {
    const CollectiveWatch watch("NCCL all_gather", rank_, size_);
    after_compute();
    check_nccl(ncclAllGather(send, recv, static_cast<size_t>(count), nccl_type(dtype), comm_, nccl_stream_),
               "all_gather");
    wait_for_nccl_stream();
  }
  void broadcast(void* data, int64_t count, DType dtype, int root) override {
    const CollectiveWatch watch("NCCL broadcast", rank_, size_);
    after_compute();
    check_nccl(ncclBroadcast(data, data, static_cast<size_t>(count), nccl_type(dtype), root, comm_, nccl_stream_),
               "broadcast");
    wait_for_nccl_stream();
  }

 private:
  // The next NCCL call starts after every kernel enqueued so far on the compute stream.
  void after_compute() {
    check_cuda(cudaEventRecord(inputs_written_, kernels::cuda::stream()), "cudaEventRecord");
    check_cuda(cudaStreamWaitEvent(nccl_stream_, inputs_written_, 0), "cudaStreamWaitEvent");
  }
  // The watchdog times a blocking collective itself, so the host waits for it here.
  void wait_for_nccl_stream() { check_cuda(cudaStreamSynchronize(nccl_stream_), "cudaStreamSynchronize"); }

  int rank_, size_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t nccl_stream_ = nullptr;
  cudaEvent_t inputs_written_ = nullptr;
};

}  // namespace

bool nccl_built() { return true; }
const char* nccl_unavailable_reason() { return ""; }

std::unique_ptr<DeviceCollectives> make_nccl_collectives(int rank, int world_size,
                                                        const std::function<void(void*, int64_t)>& broadcast_from_root) {
  return std::make_unique<NcclCollectives>(rank, world_size, broadcast_from_root);
}

}  // namespace sc::dist::detail
