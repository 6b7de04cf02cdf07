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
  bool mapped_ = false;  // a large CPU block with pages of its own (mmap), freed with munmap
  uint64_t version_ = 0;
};

// Bytes held by live Storage on a device, and the high-water mark since the last reset.
struct MemoryStats {
  int64_t bytes_in_use = 0;
  int64_t peak_bytes = 0;
};
MemoryStats memory_stats(Device device);

// Large CPU blocks (1 MiB and up) are mapped pages of their own; a freed one waits in a cache
// (at most 1 GiB, keyed by exact size) for the next allocation of its size, so a training step
// that repeats the same shapes does not fault its pages in again (core/storage.cpp). These
// bytes are not counted by memory_stats (no tensor holds them) but are part of the process's
// RSS. The cache never lets the mapped blocks, in use and cached, exceed the most that was
// ever in use at once: a new block unmaps cached blocks of other sizes to make room.
// release_cached_cpu_memory() unmaps them all, returns how many bytes that freed, and restarts
// that high-water mark from the bytes in use now.
// Builds with AddressSanitizer take every block from malloc, so that ASan sees every free.
size_t release_cached_cpu_memory();
size_t cached_cpu_memory();
void reset_peak_memory(Device device);

}  // namespace sc
