#include "dist/watchdog.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "dist/communicator.h"

namespace sc::dist {

namespace {

using Clock = std::chrono::steady_clock;

// What the watchdog thread looks at. One collective at a time per process: the trainer runs
// them from one thread.
struct WatchState {
  std::mutex mu;
  std::condition_variable wake;
  bool active = false;
  Clock::time_point started;
  std::string what;
  int rank = 0, world_size = 1;
  int64_t number = 0;
  bool thread_started = false;
  double total_seconds = 0;  // inside collectives, summed
};

WatchState& state() {
  // Never destroyed: the detached thread may still look at it while the process exits.
  static WatchState* s = new WatchState();
  return *s;
}

[[noreturn]] void give_up(const WatchState& s, double waited) {
  char message[512];
  std::snprintf(message, sizeof message,
                "error: rank %d of %d waited %.0f s in collective #%lld (%s): another rank has died or hangs "
                "(the limit is SC_DIST_TIMEOUT=%.0f s); ending this rank\n",
                s.rank, s.world_size, waited, static_cast<long long>(s.number), s.what.c_str(), collective_timeout());
  // write(2) straight to stderr: no locks, no buffers that an exit could lose.
  const ssize_t ignored = ::write(2, message, std::strlen(message));
  (void)ignored;
  std::_Exit(1);
}

void watch_loop() {
  WatchState& s = state();
  std::unique_lock lock(s.mu);
  for (;;) {
    s.wake.wait_for(lock, std::chrono::milliseconds(100));
    const double limit = collective_timeout();
    if (!s.active || limit <= 0) continue;
    const double waited = std::chrono::duration<double>(Clock::now() - s.started).count();
    if (waited > limit) give_up(s, waited);
  }
}

std::atomic<int64_t> g_started{0};

}  // namespace

CollectiveWatch::CollectiveWatch(const std::string& what, int rank, int world_size)
    : CollectiveWatch(what, rank, world_size, ++g_started) {}

CollectiveWatch::CollectiveWatch(const std::string& what, int rank, int world_size, int64_t number)
    : number_(number) {
  WatchState& s = state();
  std::lock_guard lock(s.mu);
  if (!s.thread_started) {
    std::thread(watch_loop).detach();  // lives as long as the process; it only reads WatchState
    s.thread_started = true;
  }
  s.active = true;
  s.started = Clock::now();
  s.what = what;
  s.rank = rank;
  s.world_size = world_size;
  s.number = number;
}

CollectiveWatch::~CollectiveWatch() {
  WatchState& s = state();
  std::lock_guard lock(s.mu);
  s.active = false;
  s.total_seconds += std::chrono::duration<double>(Clock::now() - s.started).count();
}

int64_t collectives_started() { return g_started.load(); }

double collective_seconds() {
  WatchState& s = state();
  std::lock_guard lock(s.mu);
  return s.total_seconds;
}

}  // namespace sc::dist
