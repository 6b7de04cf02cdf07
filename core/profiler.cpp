#include "core/profiler.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>

namespace sc::profiler {

namespace {

std::atomic<bool> g_enabled{false};
std::atomic<bool> g_time_ops{false};
std::mutex g_mutex;
// name -> (seconds, calls); a map keeps the table stable between runs with equal times.
std::map<std::string, Entry>& totals() {
  static std::map<std::string, Entry> map;
  return map;
}

}  // namespace

void enable(bool on) { g_enabled.store(on, std::memory_order_relaxed); }
bool enabled() { return g_enabled.load(std::memory_order_relaxed); }
void time_ops(bool on) { g_time_ops.store(on, std::memory_order_relaxed); }
bool timing_ops() { return g_time_ops.load(std::memory_order_relaxed); }

void reset() {
  std::lock_guard<std::mutex> lock(g_mutex);
  totals().clear();
}

void add(const std::string& name, double seconds) {
  std::lock_guard<std::mutex> lock(g_mutex);
  Entry& e = totals()[name];
  e.name = name;
  e.seconds += seconds;
  e.calls += 1;
}

std::vector<Entry> entries() {
  std::vector<Entry> out;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    for (const auto& [name, e] : totals()) out.push_back(e);
  }
  std::stable_sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.seconds > b.seconds; });
  return out;
}

std::string table(double total_seconds) {
  const std::vector<Entry> all = entries();
  if (total_seconds <= 0)
    for (const Entry& e : all) total_seconds += e.seconds;
  std::string out = "| name | total ms | calls | ms per call | share |\n|---|---:|---:|---:|---:|\n";
  char line[512];
  for (const Entry& e : all) {
    std::snprintf(line, sizeof line, "| %s | %.1f | %lld | %.3f | %.1f%% |\n", e.name.c_str(), e.seconds * 1e3,
                  static_cast<long long>(e.calls), e.calls ? e.seconds * 1e3 / static_cast<double>(e.calls) : 0.0,
                  total_seconds > 0 ? 100.0 * e.seconds / total_seconds : 0.0);
    out += line;
  }
  return out;
}

ScopedTimer::ScopedTimer(std::string name) : active_(enabled()) {
  if (!active_) return;
  name_ = std::move(name);
  start_ = std::chrono::steady_clock::now();
}

ScopedTimer::~ScopedTimer() {
  if (active_) add(name_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
}

}  // namespace sc::profiler
