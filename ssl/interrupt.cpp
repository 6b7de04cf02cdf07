#include "ssl/interrupt.h"

#include <atomic>
#include <csignal>
#include <utility>

namespace sc::ssl {

namespace {

// Written by the handler, read by the loop. A lock-free atomic is safe to touch inside a
// signal handler; a plain int would not be guaranteed to be.
std::atomic<int> g_signal{0};
static_assert(std::atomic<int>::is_always_lock_free);

struct sigaction g_previous_int, g_previous_term;

extern "C" void on_stop_signal(int sig) {
  int none = 0;
  if (g_signal.compare_exchange_strong(none, sig)) return;  // the first: the loop will stop after this step
  // The second: stop now, dying by the signal as if it had not been caught (the shell then
  // reports it as usual). Both calls are async-signal-safe.
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

}  // namespace

InterruptScope::InterruptScope() {
  g_signal = 0;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // reads and writes in progress carry on instead of failing with EINTR
  // A signal the program was started with ignored stays ignored: that is how a shell keeps
  // Ctrl-C away from a background job (`simclr train ... &` in a script).
  for (auto [sig, previous] : {std::pair{SIGINT, &g_previous_int}, std::pair{SIGTERM, &g_previous_term}}) {
    sigaction(sig, nullptr, previous);
    if (previous->sa_handler != SIG_IGN) sigaction(sig, &action, nullptr);
  }
}

InterruptScope::~InterruptScope() {
  sigaction(SIGINT, &g_previous_int, nullptr);
  sigaction(SIGTERM, &g_previous_term, nullptr);
}

int InterruptScope::signal() const { return g_signal.load(); }

const char* signal_name(int signal) {
  switch (signal) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    default: return "a signal";
  }
}

}  // namespace sc::ssl
