#pragma once
// Ctrl-C (SIGINT) and SIGTERM while training: the first one asks the trainer to finish the
// step it is in, write a checkpoint and return (TrainResult::interrupted_by); a second one
// ends the process at once, by that signal. Nothing is lost either way: checkpoints are
// written atomically (ssl/checkpoint.h), so a kill leaves the previous one intact.
//
// The handler only stores the signal number in an atomic flag; the training loop reads it
// between steps (ssl/trainer.cpp). Outside an InterruptScope the signals keep whatever
// handling the program had, so Ctrl-C while the data loads stops the program as usual.

namespace sc::ssl {

class InterruptScope {
 public:
  InterruptScope();   // installs the handlers and clears the flag
  ~InterruptScope();  // puts the previous handlers back
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

  // The first signal received in this scope (SIGINT or SIGTERM), or 0.
  int signal() const;
  bool requested() const { return signal() != 0; }
};

// "SIGINT", "SIGTERM" or "a signal", for messages.
const char* signal_name(int signal);

}  // namespace sc::ssl
