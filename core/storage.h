#pragma once
// Storage: one block of device memory shared by a tensor and all its views.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "base/device.h"

namespace sc {

class Storage {
 public:
  // pinned: CPU memory that is page-locked (cudaHostAlloc), so copies to the GPU run at full
  // speed and can overlap kernels. Needs the CUDA backend and a GPU; ignored for CUDA storage.
  Storage(size_t nbytes, Device device, bool pinned = false);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() { return data_; }
  const void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  bool pinned() const { return pinned_; }

  // Bumped by every in-place write. Autograd remembers the version a saved
  // tensor had, and backward() refuses to use it if the number changed.
  uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  bool pinned_ = false;
  uint64_t version_ = 0;
};

// Bytes held by live Storage on a device, and the high-water mark since the last reset.
struct MemoryStats {
  int64_t bytes_in_use = 0;
  int64_t peak_bytes = 0;
};
MemoryStats memory_stats(Device device);
void reset_peak_memory(Device device);

}  // namespace sc
