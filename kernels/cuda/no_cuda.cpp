// Stand-ins used when the project is built without CUDA (SC_CUDA=OFF or no nvcc):
// every CUDA request fails with a clear sc::Error instead of a link error.
#include <cstddef>
#include <string>

#include "base/device.h"
#include "base/error.h"
#include "kernels/cuda_backend.h"

namespace sc {

bool cuda_available() { return false; }
const char* cuda_unavailable_reason() { return "this build has no CUDA backend (configured with SC_CUDA=OFF or nvcc not found)"; }

void* cuda_allocate(size_t) { throw Error(cuda_unavailable_reason()); }
void cuda_free(void*) {}
void* cuda_allocate_pinned(size_t) {
  throw Error(detail::concat("cannot allocate pinned host memory: ", cuda_unavailable_reason()));
}
void cuda_free_pinned(void*) {}

}  // namespace sc

namespace sc::kernels::cuda {

namespace {
[[noreturn]] void unavailable() { throw Error(cuda_unavailable_reason()); }
}  // namespace

void* allocate(size_t) { unavailable(); }
void deallocate(void*) {}
AllocatorStats allocator_stats() { return {}; }
void empty_cache() {}
void set_poison_allocations(bool) {}
bool poison_allocations() { return false; }
void* allocate_pinned(size_t) { unavailable(); }
void free_pinned(void*) {}
void copy_host_to_device(void*, const void*, size_t) { unavailable(); }
void copy_device_to_host(void*, const void*, size_t) { unavailable(); }
void copy_device_to_device(void*, const void*, size_t) { unavailable(); }
void synchronize() {}
std::string device_description() { return "no CUDA device (built without CUDA)"; }

}  // namespace sc::kernels::cuda
