#pragma once
// The process's memory as the kernel reports it, for the benchmarks' step-memory figures
// (bench_simclr_step --mode memory, bench_train_step --memory): the same reading as the
// PyTorch twins take, so both sides are measured alike.
#include <cstdlib>
#include <fstream>
#include <string>

namespace sc::bench {

// A "Key:   1234 kB" line of /proc/self/status (VmRSS: resident now, VmHWM: the peak), in kB;
// -1 when the line is absent (not Linux).
inline long status_kb(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return std::atol(line.c_str() + key.size() + 1);
  return -1;
}

}  // namespace sc::bench
