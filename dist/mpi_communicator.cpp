// The MPI backend (built with SC_MPI; dist/no_mpi.cpp stands in otherwise). CPU buffers go
// through MPI's own collectives; CUDA buffers through NCCL (dist/nccl.cpp), set up on the first
// CUDA collective by broadcasting NCCL's unique id over MPI.
//
// Only the main thread calls MPI (MPI_THREAD_FUNNELED): the loader's workers and the watchdog
// never do. MPI is finalised at exit by an atexit handler; a rank that fails while the others
// may still wait in a collective calls abort_job (MPI_Abort) instead.
#include <mpi.h>

#include <climits>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "base/error.h"
#include "dist/backends.h"
#include "dist/communicator.h"
#include "dist/watchdog.h"

namespace sc::dist {

bool mpi_built() { return true; }
const char* mpi_unavailable_reason() { return ""; }

namespace {

MPI_Datatype mpi_type(DType dtype) {
  switch (dtype) {
    case DType::Float32: return MPI_FLOAT;
    case DType::Float64: return MPI_DOUBLE;
    case DType::Int64: return MPI_INT64_T;
    case DType::Int32: return MPI_INT32_T;
  }
  throw Error("MPI communicator: unknown dtype");
}

int mpi_count(int64_t count, const char* what) {
  SC_CHECK(count >= 0 && count <= INT_MAX, "MPI ", what, ": ", count, " elements is outside [0, ", INT_MAX,
           "] (MPI counts are int)");
  return static_cast<int>(count);
}

std::string describe(const char* what, int64_t count, DType dtype, Device device) {
  return sc::detail::concat(what, " of ", count, " ", dtype_name(dtype), " on ", device_name(device));
}

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

// An MPI_Iallreduce in flight. test() is MPI_Test (which also drives OpenMPI's progress);
// wait() is MPI_Wait under the watchdog, numbered as the start was.
class MpiPendingCollective final : public PendingCollective {
 public:
  MpiPendingCollective(MPI_Request request, std::string what, int64_t number, int rank, int world_size)
      : request_(request), what_(std::move(what)), number_(number), rank_(rank), size_(world_size) {}
  ~MpiPendingCollective() override { wait(); }

  bool test() override {
    if (!done_) {
      int flag = 0;
      MPI_Test(&request_, &flag, MPI_STATUS_IGNORE);
      done_ = flag != 0;
    }
    return done_;
  }
  void wait() override {
    if (done_) return;
    const CollectiveWatch watch("waiting for the " + what_, rank_, size_, number_);
    MPI_Wait(&request_, MPI_STATUS_IGNORE);
    done_ = true;
  }

 private:
  MPI_Request request_;
  std::string what_;
  int64_t number_;
  int rank_, size_;
  bool done_ = false;
};

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
      std::atexit(finalize_at_exit);
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }

  int rank() const override { return rank_; }
  int world_size() const override { return size_; }
  std::string backend() const override { return "mpi"; }

  void all_reduce_sum(void* data, int64_t count, DType dtype, Device device) override {
    if (device == Device::CUDA) return gpu().all_reduce_sum(data, count, dtype);
    const CollectiveWatch watch(describe("all_reduce_sum", count, dtype, device), rank_, size_);
    MPI_Allreduce(MPI_IN_PLACE, data, mpi_count(count, "all_reduce_sum"), mpi_type(dtype), MPI_SUM, MPI_COMM_WORLD);
  }

  std::unique_ptr<PendingCollective> start_all_reduce_sum(void* data, int64_t count, DType dtype,
                                                          Device device) override {
    if (device == Device::CUDA) return gpu().start_all_reduce_sum(data, count, dtype);
    const std::string what = describe("non-blocking all_reduce_sum", count, dtype, device);
    const CollectiveWatch watch(what, rank_, size_);
    MPI_Request request = MPI_REQUEST_NULL;
    MPI_Iallreduce(MPI_IN_PLACE, data, mpi_count(count, "all_reduce_sum"), mpi_type(dtype), MPI_SUM, MPI_COMM_WORLD,
                   &request);
    return std::make_unique<MpiPendingCollective>(request, what, watch.number(), rank_, size_);
  }

  void all_gather(const void* send, void* recv, int64_t count, DType dtype, Device device) override {
    if (device == Device::CUDA) return gpu().all_gather(send, recv, count, dtype);
    const CollectiveWatch watch(describe("all_gather", count, dtype, device), rank_, size_);
    const int n = mpi_count(count, "all_gather");
    mpi_count(count * size_, "all_gather (all ranks together)");
    MPI_Allgather(send, n, mpi_type(dtype), recv, n, mpi_type(dtype), MPI_COMM_WORLD);
  }

  void broadcast(void* data, int64_t count, DType dtype, Device device, int root) override {
    SC_CHECK(root >= 0 && root < size_, "broadcast: root must be a rank in [0, ", size_, "), got ", root);
    if (device == Device::CUDA) return gpu().broadcast(data, count, dtype, root);
    const CollectiveWatch watch(describe("broadcast", count, dtype, device), rank_, size_);
    MPI_Bcast(data, mpi_count(count, "broadcast"), mpi_type(dtype), root, MPI_COMM_WORLD);
  }

  void barrier() override {
    const CollectiveWatch watch("barrier", rank_, size_);
    MPI_Barrier(MPI_COMM_WORLD);
  }

  [[noreturn]] void abort_job(int exit_code) override {
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    std::_Exit(exit_code);  // MPI_Abort does not return; this keeps [[noreturn]] honest
  }

 private:
  // NCCL, set up by the first CUDA collective (every rank reaches it at the same point).
  detail::DeviceCollectives& gpu() {
    if (!nccl_) {
      SC_CHECK(detail::nccl_built(), "MPI communicator: collectives on CUDA buffers need NCCL, and this build has none (",
               detail::nccl_unavailable_reason(), ")");
      nccl_ = detail::make_nccl_collectives(rank_, size_, [this](void* bytes, int64_t n) {
        const CollectiveWatch watch("broadcast of NCCL's unique id", rank_, size_);
        MPI_Bcast(bytes, mpi_count(n, "broadcast"), MPI_BYTE, 0, MPI_COMM_WORLD);
      });
    }
    return *nccl_;
  }

  int rank_ = 0, size_ = 1;
  std::unique_ptr<detail::DeviceCollectives> nccl_;
};

}  // namespace

namespace detail {
CommunicatorPtr mpi_world() { return std::make_shared<MpiCommunicator>(); }
}  // namespace detail

}  // namespace sc::dist
