#include "dist/communicator.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "base/error.h"
#include "dist/backends.h"
#include "kernels/cuda_backend.h"

namespace sc::dist {

namespace {

size_t byte_count(int64_t count, DType dtype) {
  SC_CHECK(count >= 0, "communicator: element count must be >= 0, got ", count);
  return static_cast<size_t>(count) * dtype_size(dtype);
}

void copy_bytes(void* dst, const void* src, size_t n, Device device) {
  if (n == 0 || dst == src) return;
  if (device == Device::CPU) {
    std::memcpy(dst, src, n);
  } else {
    kernels::cuda::copy_device_to_device(dst, src, n);
  }
}

// World size 1: a sum over one rank is the value itself, gathering one rank is a copy.
class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  std::string backend() const override { return "local"; }
  void all_reduce_sum(void*, int64_t count, DType dtype, Device) override { byte_count(count, dtype); }
  void all_gather(const void* send, void* recv, int64_t count, DType dtype, Device device) override {
    copy_bytes(recv, send, byte_count(count, dtype), device);
  }
  void broadcast(void*, int64_t count, DType dtype, Device, int root) override {
    byte_count(count, dtype);
    SC_CHECK(root == 0, "broadcast: root must be a rank in [0, 1), got ", root);
  }
  void barrier() override {}
  [[noreturn]] void abort_job(int exit_code) override { std::exit(exit_code); }
};

double timeout_from_environment() {
  const char* v = std::getenv("SC_DIST_TIMEOUT");
  if (!v || !*v) return 300.0;
  char* end = nullptr;
  const double s = std::strtod(v, &end);
  SC_CHECK(end && *end == '\0', "SC_DIST_TIMEOUT must be a number of seconds, got '", v, "'");
  return s;
}

std::atomic<double>& timeout_seconds() {
  static std::atomic<double> t{timeout_from_environment()};
  return t;
}

}  // namespace

namespace {
// What start_all_reduce_sum returns when the collective already ran to the end.
class FinishedCollective final : public PendingCollective {
 public:
  bool test() override { return true; }
  void wait() override {}
};
}  // namespace

std::unique_ptr<PendingCollective> Communicator::start_all_reduce_sum(void* data, int64_t count, DType dtype,
                                                                      Device device) {
  all_reduce_sum(data, count, dtype, device);
  return std::make_unique<FinishedCollective>();
}

CommunicatorPtr local_communicator() { return std::make_shared<LocalCommunicator>(); }

bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(name)) return true;
  return false;
}

CommunicatorPtr world() {
  static CommunicatorPtr the_world = [] {
    if (!launched_by_mpi()) return local_communicator();
    if (!mpi_built()) {
      const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
      if (!size) size = std::getenv("PMI_SIZE");
      SC_CHECK(!size || std::string(size) == "1", "this process was started by mpirun with ", size,
               " ranks, but this build has no MPI (", mpi_unavailable_reason(),
               "): every rank would train alone; rebuild with -DSC_MPI=ON, or run without mpirun");
      return local_communicator();
    }
    return detail::mpi_world();
  }();
  return the_world;
}

double collective_timeout() { return timeout_seconds().load(); }
void set_collective_timeout(double seconds) { timeout_seconds().store(seconds); }

}  // namespace sc::dist
