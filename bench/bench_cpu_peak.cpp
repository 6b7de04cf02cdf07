// This CPU's ceilings, the denominators of the "% of peak" table (bench/cpu_step_bench.sh):
//
//   FMA peak   float32 fused multiply-adds from registers only: each thread runs
//              kChains independent chains acc = acc * a + b (more chains than the FMA units
//              times their latency, so the units never wait), with AVX-512 (16 lanes) and
//              with AVX2 (8 lanes), each only where this CPU has it. FLOPs = 2 per lane per
//              FMA. The best of --repeats runs.
//   copy       memcpy of one large array into another (--copy-mib MiB each, far beyond the
//              last-level cache, so it is memory bandwidth), each thread copying its own
//              half; bytes = read + written (2 x the array), as STREAM counts a copy. Also
//              the same with --cache-copy-mib arrays, which fit in the last-level cache: what
//              an op whose tensors stay in cache can reach. The best of --repeats runs.
//
// At 1 and 2 threads (--threads, the list), on std::threads started together. Prints JSON.
//   bench_cpu_peak --threads 1 2
#include <CLI/CLI.hpp>
#include <immintrin.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

namespace {

// 2 FMA units x 4 cycles of latency = 8 chains in flight at least; 12 leaves slack and, with
// a and b, still fits AVX2's 16 vector registers (no spills inside the loop).
constexpr int kChains = 12;

__attribute__((target("avx512f"))) float fma_loop_avx512(int64_t iterations) {
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(0.5f + 0.01f * static_cast<float>(c));
  const __m512 a = _mm512_set1_ps(0.9999f), b = _mm512_set1_ps(1e-4f);  // converges to 1: no overflow or denormals
  for (int64_t i = 0; i < iterations; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
  __m512 sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = _mm512_add_ps(sum, acc[c]);
  return _mm512_reduce_add_ps(sum);
}

__attribute__((target("avx2,fma"))) float fma_loop_avx2(int64_t iterations) {
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(0.5f + 0.01f * static_cast<float>(c));
  const __m256 a = _mm256_set1_ps(0.9999f), b = _mm256_set1_ps(1e-4f);
  for (int64_t i = 0; i < iterations; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
  __m256 sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = _mm256_add_ps(sum, acc[c]);
  float lanes[8];
  _mm256_storeu_ps(lanes, sum);
  float total = 0.0f;
  for (float lane : lanes) total += lane;
  return total;
}

// Runs work(thread_index) on `threads` threads started together; the wall seconds until the
// last one ends.
double run_threads(int threads, const std::function<void(int)>& work) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  Clock::time_point start;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      work(t);
    });
  while (ready.load() < threads) std::this_thread::yield();
  start = Clock::now();
  go.store(true, std::memory_order_release);
  for (std::thread& thread : pool) thread.join();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

volatile float g_sink = 0.0f;  // keeps the FMA results alive

// GFLOP/s of `loop` (lanes floats per FMA) on `threads` threads: the best of `repeats` runs.
double fma_gflops(float (*loop)(int64_t), int lanes, int threads, int repeats, int64_t iterations) {
  double best = 0.0;
  for (int r = 0; r < repeats; ++r) {
    std::vector<float> results(static_cast<size_t>(threads));
    const double seconds = run_threads(threads, [&](int t) { results[static_cast<size_t>(t)] = loop(iterations); });
    for (float v : results) g_sink = g_sink + v;
    const double flops = 2.0 * lanes * kChains * static_cast<double>(iterations) * threads;
    best = std::max(best, flops / seconds / 1e9);
  }
  return best;
}

// GB/s (read + written) of copying `mib` MiB on `threads` threads: the best of `repeats` runs.
double copy_gbps(int64_t mib, int threads, int repeats) {
  const size_t bytes = static_cast<size_t>(mib) << 20;
  auto* src = static_cast<char*>(std::aligned_alloc(64, bytes));
  auto* dst = static_cast<char*>(std::aligned_alloc(64, bytes));
  if (!src || !dst) throw std::runtime_error("bench_cpu_peak: cannot allocate 2 x " + std::to_string(mib) + " MiB");
  const size_t part = bytes / static_cast<size_t>(threads);
  // Each thread touches its own halves first, so their pages are placed as the copy uses them.
  run_threads(threads, [&](int t) {
    std::memset(src + t * part, 1, part);
    std::memset(dst + t * part, 0, part);
  });
  double best = 0.0;
  for (int r = 0; r < repeats; ++r) {
    const double seconds = run_threads(threads, [&](int t) { std::memcpy(dst + t * part, src + t * part, part); });
    best = std::max(best, 2.0 * static_cast<double>(part * threads) / seconds / 1e9);
  }
  g_sink = g_sink + static_cast<float>(dst[bytes - 1]);
  std::free(src);
  std::free(dst);
  return best;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"FMA peak and copy bandwidth of this CPU, for the % of peak table of bench/cpu_step_bench.sh"};
  std::vector<int> thread_counts{1, 2};
  int repeats = 5;
  int64_t iterations = 50'000'000, copy_mib = 1024, cache_copy_mib = 16;
  app.add_option("--threads", thread_counts, "thread counts to measure")->check(CLI::Range(1, 1024));
  app.add_option("--repeats", repeats, "runs per figure (the best is kept)")->check(CLI::Range(1, 1000));
  app.add_option("--fma-iterations", iterations, "FMA loop iterations per thread and run")
      ->check(CLI::Range(int64_t{1000}, int64_t{1} << 40));
  app.add_option("--copy-mib", copy_mib, "MiB per array of the memory copy (far beyond the last-level cache)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  app.add_option("--cache-copy-mib", cache_copy_mib, "MiB per array of the in-cache copy")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  CLI11_PARSE(app, argc, argv);

  try {
    __builtin_cpu_init();
    const bool has_avx512 = __builtin_cpu_supports("avx512f");
    const bool has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    Json out;
    out["cpu"] = cpu_model();
    out["avx512f"] = has_avx512;
    out["avx2_fma"] = has_avx2;
    out["fma_chains"] = kChains;
    out["copy_mib"] = copy_mib;
    out["cache_copy_mib"] = cache_copy_mib;
    for (int threads : thread_counts) {
      const std::string key = std::to_string(threads);
      if (has_avx512) out["fma_gflops"]["avx512"][key] = fma_gflops(fma_loop_avx512, 16, threads, repeats, iterations);
      if (has_avx2) out["fma_gflops"]["avx2"][key] = fma_gflops(fma_loop_avx2, 8, threads, repeats, iterations);
      out["copy_gbps"][key] = copy_gbps(copy_mib, threads, repeats);
      out["cache_copy_gbps"][key] = copy_gbps(cache_copy_mib, threads, repeats);
    }
    std::cout << out.dump(1) << "\n";
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
