#include "core/storage.h"

#include <atomic>
#include <cstdlib>
#include <new>

#include "base/error.h"

namespace sc {

namespace {
// 64-byte alignment: a cache line, and enough for any SIMD load Eigen issues.
constexpr size_t kCpuAlignment = 64;

struct Counters {
  std::atomic<int64_t> in_use{0};
  std::atomic<int64_t> peak{0};
};
Counters& counters(Device d) {
  static Counters cpu, cuda;
  return d == Device::CPU ? cpu : cuda;
}
void count_alloc(Device d, int64_t n) {
  Counters& c = counters(d);
  int64_t now = c.in_use.fetch_add(n) + n;
  int64_t peak = c.peak.load();
  while (now > peak && !c.peak.compare_exchange_weak(peak, now)) {
  }
}
}  // namespace

// Implemented in kernels/cuda (or kernels/cuda/no_cuda.cpp when CUDA is off).
void* cuda_allocate(size_t nbytes);
void cuda_free(void* p);
void* cuda_allocate_pinned(size_t nbytes);
void cuda_free_pinned(void* p);

Storage::Storage(size_t nbytes, Device device, bool pinned)
    : nbytes_(nbytes), device_(device), pinned_(pinned && device == Device::CPU) {
  size_t padded = (nbytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
  if (padded == 0) padded = kCpuAlignment;  // keep data() non-null for empty tensors
  switch (device) {
    case Device::CPU:
      if (pinned_) {
        data_ = cuda_allocate_pinned(padded);  // page-aligned, so the 64-byte alignment holds too
        break;
      }
      data_ = std::aligned_alloc(kCpuAlignment, padded);
      if (!data_) throw Error(detail::concat("out of memory: could not allocate ", nbytes, " bytes on cpu"));
      break;
    case Device::CUDA:
      data_ = cuda_allocate(padded);
      break;
  }
  count_alloc(device, static_cast<int64_t>(nbytes));
}

Storage::~Storage() {
  counters(device_).in_use.fetch_sub(static_cast<int64_t>(nbytes_));
  switch (device_) {
    case Device::CPU:
      if (pinned_)
        cuda_free_pinned(data_);
      else
        std::free(data_);
      break;
    case Device::CUDA: cuda_free(data_); break;
  }
}

MemoryStats memory_stats(Device device) {
  Counters& c = counters(device);
  return {c.in_use.load(), c.peak.load()};
}

void reset_peak_memory(Device device) {
  Counters& c = counters(device);
  c.peak.store(c.in_use.load());
}

}  // namespace sc
