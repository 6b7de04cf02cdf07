// The CUDA runtime layer: device detection, the caching allocator, copies, the stream,
// launch checks and the kernel-path switch (kernels/cuda_backend.h, kernels/cuda/common.cuh).
#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/device.h"
#include "base/error.h"
#include "kernels/cuda/common.cuh"

namespace sc {

namespace {
std::string& reason() {
  static std::string r;
  return r;
}
}  // namespace

bool cuda_available() {
  static const bool available = [] {
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      reason() = std::string("no usable GPU: ") + cudaGetErrorString(err);
      cudaGetLastError();  // clear the error so later calls start clean
      return false;
    }
    if (count == 0) {
      reason() = "no GPU found";
      return false;
    }
    return true;
  }();
  return available;
}

const char* cuda_unavailable_reason() {
  cuda_available();
  return reason().c_str();
}

// The hooks core/storage.cpp calls for Device::CUDA storage.
void* cuda_allocate(size_t nbytes) {
  SC_CHECK(cuda_available(), "cannot allocate CUDA memory: ", cuda_unavailable_reason());
  return kernels::cuda::allocate(nbytes);
}
void cuda_free(void* p) { kernels::cuda::deallocate(p); }
void* cuda_allocate_pinned(size_t nbytes) {
  SC_CHECK(cuda_available(), "cannot allocate pinned host memory: ", cuda_unavailable_reason());
  return kernels::cuda::allocate_pinned(nbytes);
}
void cuda_free_pinned(void* p) { kernels::cuda::free_pinned(p); }

}  // namespace sc

namespace sc::kernels::cuda {

void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line) {
  cudaGetLastError();  // clear a non-sticky error so the caller can go on after catching
  throw Error(detail::concat("CUDA error in ", what, " (", file, ":", line, "): ", cudaGetErrorName(err), ": ",
                             cudaGetErrorString(err)));
}

namespace {

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v && std::strcmp(v, "0") != 0 && *v != '\0';
}

}  // namespace

cudaStream_t stream() {
  static cudaStream_t s = [] {
    cudaStream_t created = nullptr;
    SC_CUDA_CHECK(cudaStreamCreateWithFlags(&created, cudaStreamDefault));
    return created;
  }();
  return s;
}

int sm_count() {
  static int n = [] {
    int device = 0, count = 0;
    SC_CUDA_CHECK(cudaGetDevice(&device));
    SC_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
    return count;
  }();
  return n;
}

void check_launch(const char* kernel_name) {
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess)
    throw Error(detail::concat("CUDA kernel ", kernel_name, " failed to launch: ", cudaGetErrorName(err), ": ",
                               cudaGetErrorString(err)));
  if (sync_after_each_kernel()) {
    err = cudaStreamSynchronize(stream());
    if (err != cudaSuccess)
      throw Error(detail::concat("CUDA kernel ", kernel_name, " faulted (SC_CUDA_SYNC=1): ", cudaGetErrorName(err),
                                 ": ", cudaGetErrorString(err)));
  }
}

// ---- the caching allocator -------------------------------------------------------------
namespace {

// Size classes: multiples of 512 bytes up to 1 MiB, then multiples of 2 MiB. Requests of
// one class share blocks; the rounding wastes at most 2 MiB on a large tensor (under 2% of
// anything over 100 MiB) and keeps the number of classes a training step touches small.
constexpr size_t kSmallStep = 512;
constexpr size_t kSmallLimit = size_t(1) << 20;
constexpr size_t kLargeStep = size_t(2) << 20;

size_t size_class(size_t nbytes) {
  if (nbytes == 0) nbytes = 1;
  const size_t step = nbytes <= kSmallLimit ? kSmallStep : kLargeStep;
  return (nbytes + step - 1) / step * step;
}

struct Allocator {
  std::mutex mutex;
  std::multimap<size_t, void*> free_blocks;     // class size -> cached block
  std::unordered_map<void*, size_t> live;       // block handed out -> its class size
  AllocatorStats stats;
  bool poison = env_flag("SC_CUDA_POISON");

  // Called with the mutex held.
  void release_cache() {
    if (free_blocks.empty()) return;
    cudaStreamSynchronize(stream());  // the cached blocks may still be read by queued kernels
    for (auto& [size, p] : free_blocks) {
      cudaFree(p);
      stats.bytes_reserved -= static_cast<int64_t>(size);
      stats.bytes_cached -= static_cast<int64_t>(size);
    }
    free_blocks.clear();
  }
};

Allocator& allocator() {
  // Never destroyed: CUDA tensors in static objects may be freed after main returns, when
  // a destroyed allocator (or a torn-down CUDA context) must not be touched.
  static Allocator* a = new Allocator;
  return *a;
}

}  // namespace

void* allocate(size_t nbytes) {
  Allocator& a = allocator();
  const size_t size = size_class(nbytes);
  void* p = nullptr;
  {
    std::lock_guard<std::mutex> lock(a.mutex);
    auto it = a.free_blocks.find(size);
    if (it != a.free_blocks.end()) {
      p = it->second;
      a.free_blocks.erase(it);
      a.stats.bytes_cached -= static_cast<int64_t>(size);
      ++a.stats.cache_hits;
    } else {
      cudaError_t err = cudaMalloc(&p, size);
      if (err != cudaSuccess) {
        cudaGetLastError();
        a.release_cache();  // give the cached blocks back and try once more
        err = cudaMalloc(&p, size);
      }
      if (err != cudaSuccess) {
        cudaGetLastError();
        throw Error(detail::concat("CUDA out of memory: could not allocate ", nbytes, " bytes (",
                                   a.stats.bytes_reserved, " bytes already held by this process): ",
                                   cudaGetErrorString(err)));
      }
      ++a.stats.cuda_malloc_calls;
      a.stats.bytes_reserved += static_cast<int64_t>(size);
      if (a.stats.bytes_reserved > a.stats.peak_bytes_reserved) a.stats.peak_bytes_reserved = a.stats.bytes_reserved;
    }
    a.live[p] = size;
  }
  if (a.poison) SC_CUDA_CHECK(cudaMemsetAsync(p, 0xFF, size, stream()));
  return p;
}

void deallocate(void* p) {
  if (!p) return;
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  auto it = a.live.find(p);
  if (it == a.live.end()) return;  // not ours: never happens through Storage
  a.free_blocks.emplace(it->second, p);
  a.stats.bytes_cached += static_cast<int64_t>(it->second);
  a.live.erase(it);
}

AllocatorStats allocator_stats() {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  return a.stats;
}

void empty_cache() {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  a.release_cache();
}

void set_poison_allocations(bool on) { allocator().poison = on; }
bool poison_allocations() { return allocator().poison; }

void* allocate_pinned(size_t nbytes) {
  void* p = nullptr;
  SC_CUDA_CHECK(cudaHostAlloc(&p, nbytes == 0 ? 1 : nbytes, cudaHostAllocDefault));
  return p;
}

void free_pinned(void* p) {
  if (p) cudaFreeHost(p);
}

// ---- copies -------------------------------------------------------------------------------
void copy_host_to_device(void* dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  SC_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, stream()));
  // A pageable source is staged by the driver before the call returns; a pinned one is read
  // later, so wait to keep "src may be reused" true for both.
  SC_CUDA_CHECK(cudaStreamSynchronize(stream()));
}

void copy_device_to_host(void* dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  SC_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, stream()));
  SC_CUDA_CHECK(cudaStreamSynchronize(stream()));
}

void copy_device_to_device(void* dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  SC_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, stream()));
  check_launch("copy_device_to_device");
}

void synchronize() { SC_CUDA_CHECK(cudaStreamSynchronize(stream())); }

std::string device_description() {
  int device = 0;
  SC_CUDA_CHECK(cudaGetDevice(&device));
  cudaDeviceProp prop{};
  SC_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  return detail::concat(prop.name, ", sm_", prop.major, prop.minor, ", ", prop.multiProcessorCount, " SMs, ",
                        prop.totalGlobalMem >> 20, " MiB");
}

}  // namespace sc::kernels::cuda
