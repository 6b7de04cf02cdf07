#include "core/storage.h"

#include <algorithm>
#include <atomic>
#include <iterator>
#include <map>
#include <set>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

#include <sys/mman.h>

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
// Whole cache lines, and at least one so that data() is non-null for empty tensors.
size_t padded_size(size_t nbytes) {
  const size_t padded = (nbytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
  return padded == 0 ? kCpuAlignment : padded;
}

// Large CPU blocks (at least kMapThreshold: activations and their gradients, 1-25 MiB each in
// a ConvNet step) get pages of their own from mmap instead of malloc. From malloc, a freed
// block of a few megabytes raises glibc's mmap threshold, so later blocks come from the heap
// and stay in the process, fragmented, after they are freed: a ConvNet w=16 step peaked at
// 575 MiB of RSS for 392 MiB of live tensors. munmap on every free fixes that (398 MiB) but
// makes each step fault all its pages in again (about 12% more CPU time). So a freed block
// waits in a cache of free page ranges for the next allocation: a training step allocates
// the same shapes every time, and backward frees activations of the sizes its gradients need.
//  - A request takes the head of the smallest cached range that is big enough; the rest stays
//    cached. A freed block is merged with the free ranges right before and after it, so the
//    pieces of a split range join up again. The pages of a reused range are already there.
//    (Taking a whole range up to a quarter bigger than asked mapped as often and held more.)
//  - The cache never makes the process bigger than its tensors ever were: when a block has to
//    be newly mapped, the largest cached ranges are unmapped until the blocks in use, those
//    cached and the new one fit within the most that was ever in use at once (the high-water
//    mark, raised by this block if it is a new peak). Without that bound a w=32 ConvNet step
//    held about 200 MiB of cached blocks of the wrong sizes at its peak.
//  - It holds at most kCacheLimit bytes; release_cached_cpu_memory() empties it.
// Page-aligned memory satisfies kCpuAlignment.
// Under AddressSanitizer every block comes from malloc instead: ASan then sees each free and
// can report a use after it, which a block waiting in the cache would hide.
#if defined(__SANITIZE_ADDRESS__)
#define SC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SC_ASAN 1
#endif
#endif
#ifdef SC_ASAN
constexpr bool kMapLargeBlocks = false;
#else
constexpr bool kMapLargeBlocks = true;
#endif
constexpr size_t kMapThreshold = size_t(1) << 20;
constexpr size_t kPage = 4096;
constexpr size_t kCacheLimit = size_t(1) << 30;

size_t mapped_size(size_t nbytes) { return (padded_size(nbytes) + kPage - 1) / kPage * kPage; }

// The cached ranges, indexed twice: by address, to merge a freed range with free neighbours
// (the pieces of a split block, or mappings that happen to lie side by side: a range of pages
// can be handed out and unmapped whatever mappings it came from), and by size, for best fit.
struct BlockCache {
  std::mutex mutex;
  std::map<char*, size_t> free_by_address;                // start -> size
  std::set<std::pair<size_t, char*>> free_by_size;        // (size, start), smallest first
  size_t cached_bytes = 0;
  size_t mapped_in_use = 0;      // bytes of mapped blocks that a Storage holds
  size_t mapped_high_water = 0;  // the most mapped_in_use has been (since the last release)

  void add_free(char* start, size_t size) {
    cached_bytes += size;
    auto next = free_by_address.lower_bound(start);
    if (next != free_by_address.end() && start + size == next->first) {  // merge the range after
      size += next->second;
      free_by_size.erase({next->second, next->first});
      next = free_by_address.erase(next);
    }
    if (next != free_by_address.begin()) {
      auto previous = std::prev(next);
      if (previous->first + previous->second == start) {  // merge into the range before
        free_by_size.erase({previous->second, previous->first});
        start = previous->first;
        size += previous->second;
        free_by_address.erase(previous);
      }
    }
    free_by_address.emplace(start, size);
    free_by_size.emplace(size, start);
  }
  void remove_free(char* start, size_t size) {
    free_by_address.erase(start);
    free_by_size.erase({size, start});
    cached_bytes -= size;
  }
};
BlockCache& block_cache() {
  static BlockCache* cache = new BlockCache;  // never destroyed: storages may outlive statics
  return *cache;
}

// A block of exactly `size` bytes (a page multiple, mapped_size of the Storage's bytes, which
// is how unmap_block knows it again): the head of the best-fitting cached range (the tail
// stays cached), else a new mapping.
void* map_block(size_t size) {
  BlockCache& cache = block_cache();
  std::vector<std::pair<char*, size_t>> evicted;  // unmapped after the lock is let go
  {
    std::lock_guard<std::mutex> lock(cache.mutex);
    auto fit = cache.free_by_size.lower_bound({size, nullptr});
    if (fit != cache.free_by_size.end()) {
      const auto [range_size, start] = *fit;
      cache.remove_free(start, range_size);
      if (size < range_size) cache.add_free(start + size, range_size - size);
      cache.mapped_in_use += size;
      return start;
    }
    // A new block: make room for it within the high-water mark (see the comment at the top),
    // unmapping the largest cached ranges first.
    cache.mapped_in_use += size;
    cache.mapped_high_water = std::max(cache.mapped_high_water, cache.mapped_in_use);
    const size_t room = cache.mapped_high_water - cache.mapped_in_use;
    while (cache.cached_bytes > room) {
      const auto [range_size, start] = *std::prev(cache.free_by_size.end());
      cache.remove_free(start, range_size);
      evicted.emplace_back(start, range_size);
    }
  }
  for (const auto& [start, range_size] : evicted) munmap(start, range_size);
  // MAP_POPULATE: the pages are about to be written anyway; one call maps them all instead
  // of one fault per page.
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p != MAP_FAILED) return p;
  std::lock_guard<std::mutex> lock(cache.mutex);
  cache.mapped_in_use -= size;
  return nullptr;
}

void unmap_block(void* p, size_t size) {
  BlockCache& cache = block_cache();
  {
    std::lock_guard<std::mutex> lock(cache.mutex);
    cache.mapped_in_use -= size;
    if (cache.cached_bytes + size <= kCacheLimit) {
      cache.add_free(static_cast<char*>(p), size);
      return;
    }
  }
  munmap(p, size);
}

}  // namespace

// Implemented in kernels/cuda (or kernels/cuda/no_cuda.cpp when CUDA is off).
void* cuda_allocate(size_t nbytes);
void cuda_free(void* p);
void* cuda_allocate_pinned(size_t nbytes);
void cuda_free_pinned(void* p);

Storage::Storage(size_t nbytes, Device device, bool pinned)
    : nbytes_(nbytes), device_(device), pinned_(pinned && device == Device::CPU) {
  const size_t padded = padded_size(nbytes);
  switch (device) {
    case Device::CPU:
      if (pinned_) {
        data_ = cuda_allocate_pinned(padded);  // page-aligned, so the 64-byte alignment holds too
        break;
      }
      if (kMapLargeBlocks && padded >= kMapThreshold) {
        data_ = map_block(mapped_size(nbytes));
        mapped_ = data_ != nullptr;
      } else {
        data_ = std::aligned_alloc(kCpuAlignment, padded);
      }
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
      else if (mapped_)
        unmap_block(data_, mapped_size(nbytes_));
      else
        std::free(data_);
      break;
    case Device::CUDA: cuda_free(data_); break;
  }
}

size_t release_cached_cpu_memory() {
  BlockCache& cache = block_cache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  const size_t released = cache.cached_bytes;
  for (const auto& [start, size] : cache.free_by_address) munmap(start, size);
  cache.free_by_address.clear();
  cache.free_by_size.clear();
  cache.cached_bytes = 0;
  cache.mapped_high_water = cache.mapped_in_use;  // the bound starts again from what is in use now
  return released;
}

size_t cached_cpu_memory() {
  BlockCache& cache = block_cache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  return cache.cached_bytes;
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
