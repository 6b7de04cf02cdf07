#pragma once
// A small opt-in profiler: accumulated wall time and call count per name.
//
// Off by default; while off, a ScopedTimer costs one relaxed atomic load. Turned on, the
// backward engine (core/autograd.cpp) times each Node's apply() under "backward <node name>"
// and the summing of gradients that meet at a node under "backward (gradient sums)"; callers
// add their own scopes (bench/bench_train_step.cpp times each layer's forward as
// "forward <layer type>" and the optimizer as "optimizer step").
// With time_ops() on as well, every op (core/ops.h) adds its time under its own name
// ("conv2d", "adam_step_"): only the outermost call, so an op that another op calls inside
// (the contiguous copy inside conv2d) counts in its caller's row and no time is counted
// twice. `simclr train --profile` (ssl/inspect.h) turns both on.
//
//   sc::profiler::reset();
//   sc::profiler::enable();
//   ... run a few training steps ...
//   sc::profiler::enable(false);
//   std::cout << sc::profiler::table();
//
// Names are free text; scopes may nest (each name then counts its own wall time, so nested
// times overlap and the column does not sum to the total). Thread-safe, meant to be used
// from the thread that drives the ops (the kernels' own threads are inside the timed calls).
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace sc::profiler {

void enable(bool on = true);
bool enabled();
// Also time each op by name (see above). Needs enable() too.
void time_ops(bool on = true);
bool timing_ops();
// Forgets every recorded time.
void reset();
// Adds one call of `seconds` to `name`.
void add(const std::string& name, double seconds);

struct Entry {
  std::string name;
  double seconds = 0;
  int64_t calls = 0;
};
// Every name recorded since the last reset, longest total time first.
std::vector<Entry> entries();
// entries() as a markdown table: name, total ms, calls, ms per call, share of `total_seconds`
// (when > 0; else of the sum of all entries).
std::string table(double total_seconds = 0);

// Times its own lifetime under `name` when the profiler is on at construction.
class ScopedTimer {
 public:
  explicit ScopedTimer(std::string name);
  ~ScopedTimer();
  ScopedTimer(const ScopedTimer&) = delete;
  ScopedTimer& operator=(const ScopedTimer&) = delete;

 private:
  bool active_;
  std::string name_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace sc::profiler
