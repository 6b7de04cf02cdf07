#pragma once
// The op trace: with SC_TRACE=1 in the environment, every op prints one line to stderr as it
// finishes, forward and backward:
//
//   [trace] conv2d  float32[256, 1, 28, 28], float32[16, 1, 3, 3], none  cpu  1.204 ms
//   [trace] backward conv2d  float32[256, 16, 28, 28]  cpu  2.871 ms
//
// name, the input tensors (dtype and shape; "none" for an input left out, such as a conv
// without bias), the device of the first input, and the wall time of the call. A backward line
// is one autograd Node, and its input is the gradient arriving at it.
//
// SC_TRACE=1 shows the ops your code (or a Module) called and the backward Nodes. SC_TRACE=2
// also shows, indented, the ops those call inside (nt_xent is normalize, then the fused
// nt_xent_normalized; the backward of add is sum_to ...). A line is printed when its op ends,
// but a nested op's lines come after its parent's, in call order, so the output reads top down.
//
// On CUDA, kernels run asynchronously: the time is the launch, not the kernel, unless
// SC_CUDA_SYNC=1 makes every launch wait.
//
// Every op in core/ops.h opens a trace::OpScope first thing. Creation functions (empty, zeros,
// from_vector ...) do not, since they only allocate, but the fill_ inside zeros() and ones()
// does. The same scopes feed the profiler (core/profiler.h): with profiler::time_ops() on,
// each outermost op adds its time to a row of its name.
#include <chrono>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"

namespace sc::trace {

// 0: off, 1: ops called from outside other ops and backward Nodes, 2: every op, nested ones
// indented. Starts from SC_TRACE (unset or 0: off; 1; 2; any other value counts as 1).
int level();
void set_level(int level);
// Where the lines go; nullptr (the default) means std::cerr. For tests.
void set_stream(std::ostream* stream);

// What kind of call a scope times: it decides the profiler row ("conv2d", "backward conv2d").
enum class Kind { Op, Backward };

// Times one op call from its construction to its destruction, for the trace and the profiler.
// When both are off it does nothing but check two flags.
class OpScope {
 public:
  // inputs: any mix of Tensor, std::vector<Tensor> (concat, stack) and double (mul(x, 0.5)).
  template <typename... Inputs>
  explicit OpScope(std::string_view name, const Inputs&... inputs) : OpScope(Kind::Op, name, inputs...) {}

  template <typename... Inputs>
  OpScope(Kind kind, std::string_view name, const Inputs&... inputs) {
    if (!hooks_on()) return;
    std::string described;
    std::string device;
    if (level() > 0) (describe_input(described, device, inputs), ...);
    begin(kind, name, described, device);
  }

  ~OpScope() {
    if (active_) end();
  }
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;

 private:
  static bool hooks_on();
  static void describe_input(std::string& out, std::string& device, const Tensor& t);
  static void describe_input(std::string& out, std::string& device, const std::vector<Tensor>& ts);
  static void describe_input(std::string& out, std::string& device, double scalar);
  void begin(Kind kind, std::string_view name, const std::string& inputs, const std::string& device);
  void end();

  bool active_ = false;
  bool outermost_ = false;   // no other scope was open on this thread when this one started
  int64_t line_ = -1;        // this call's line in the thread's buffer (-1: not traced)
  int uncaught_ = 0;         // std::uncaught_exceptions() at the start: an op that throws says so
  Kind kind_ = Kind::Op;
  std::string name_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace sc::trace
