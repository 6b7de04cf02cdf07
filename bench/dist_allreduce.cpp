// All-reduce bandwidth of the communicator (dist/communicator.h) on CPU buffers:
//   mpiexec -n 2 build/bench/dist_allreduce [max_megabytes]
// For each size, the median time of an in-place float32 sum over all ranks (after warm-up),
// with the two usual bandwidths:
//   algbw = bytes / time
//   busbw = algbw * 2 (n - 1) / n   what each link carries in a ring all-reduce; NCCL's
//                                   tests report the same number, so the two compare
// Rank 0 prints a markdown table.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "dist/communicator.h"

int main(int argc, char** argv) {
  using Clock = std::chrono::steady_clock;
  sc::dist::CommunicatorPtr world = sc::dist::world();
  const int n = world->world_size();
  const double max_mb = argc > 1 ? std::atof(argv[1]) : 64.0;
  if (world->rank() == 0) {
    std::printf("ranks: %d (backend %s)\n\n| size | median time | algbw | busbw |\n|---:|---:|---:|---:|\n", n,
                world->backend().c_str());
  }
  for (double bytes = 4096; bytes <= max_mb * 1048576.0; bytes *= 4) {
    const auto count = static_cast<int64_t>(bytes / 4);
    std::vector<float> data(static_cast<size_t>(count), 1.0f);
    const int reps = bytes < 1048576 ? 50 : bytes < 16 * 1048576 ? 10 : 5;
    std::vector<double> seconds;
    for (int i = 0; i < reps + 2; ++i) {
      world->barrier();
      const auto t0 = Clock::now();
      world->all_reduce_sum(data.data(), count, sc::DType::Float32, sc::Device::CPU);
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      if (i >= 2) seconds.push_back(s);  // the first two warm up the buffers and connections
    }
    std::sort(seconds.begin(), seconds.end());
    const double t = seconds[seconds.size() / 2];
    const double algbw = bytes / t / 1e9;
    if (world->rank() == 0)
      std::printf("| %.0f KiB | %.1f us | %.2f GB/s | %.2f GB/s |\n", bytes / 1024, t * 1e6, algbw,
                  algbw * 2.0 * (n - 1) / n);
  }
  return 0;
}
