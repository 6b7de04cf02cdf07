#include "core/trace.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <mutex>

#include "core/profiler.h"

namespace sc::trace {

namespace {

int level_from_env() {
  const char* value = std::getenv("SC_TRACE");
  if (value == nullptr || *value == '\0' || std::string_view(value) == "0") return 0;
  return std::string_view(value) == "2" ? 2 : 1;
}

// A function-local static: read SC_TRACE on first use, whatever the order of static initialisation.
std::atomic<int>& level_flag() {
  static std::atomic<int> flag{level_from_env()};
  return flag;
}

std::atomic<std::ostream*> g_stream{nullptr};
std::mutex g_print_mutex;  // lines from several threads never interleave within a line

// One traced call. Lines are buffered per thread until the outermost call ends, so a parent
// (opened first) prints before the ops it called, although it finishes after them.
struct Line {
  int depth = 0;
  std::string head;  // "conv2d  float32[...], ...  cpu"
  double ms = 0.0;
  bool threw = false;
};

struct ThreadState {
  int depth = 0;  // scopes open on this thread
  std::vector<Line> lines;
};
thread_local ThreadState t_state;

void flush(std::vector<Line>& lines) {
  std::string text;
  char time[64];
  for (const Line& line : lines) {
    std::snprintf(time, sizeof time, "  %.3f ms", line.ms);
    text += "[trace] ";
    text.append(static_cast<size_t>(2 * line.depth), ' ');
    text += line.head;
    text += time;
    if (line.threw) text += "  (threw)";
    text += '\n';
  }
  lines.clear();
  std::lock_guard<std::mutex> lock(g_print_mutex);
  std::ostream* out = g_stream.load();
  (out ? *out : std::cerr) << text << std::flush;
}

}  // namespace

int level() { return level_flag().load(std::memory_order_relaxed); }
void set_level(int level) { level_flag().store(level, std::memory_order_relaxed); }
void set_stream(std::ostream* stream) { g_stream.store(stream); }

bool OpScope::hooks_on() { return level() > 0 || profiler::enabled(); }

void OpScope::describe_input(std::string& out, std::string& device, const Tensor& t) {
  if (!out.empty()) out += ", ";
  if (!t.defined()) {
    out += "none";
    return;
  }
  out += dtype_name(t.dtype());
  out += shape_str(t.shape());
  if (device.empty()) device = device_name(t.device());
}

void OpScope::describe_input(std::string& out, std::string& device, const std::vector<Tensor>& ts) {
  std::string inner;
  for (const Tensor& t : ts) describe_input(inner, device, t);
  if (!out.empty()) out += ", ";
  out += "[" + inner + "]";
}

void OpScope::describe_input(std::string& out, std::string&, double scalar) {
  char number[32];
  std::snprintf(number, sizeof number, "%g", scalar);
  if (!out.empty()) out += ", ";
  out += number;
}

void OpScope::begin(Kind kind, std::string_view name, const std::string& inputs, const std::string& device) {
  active_ = true;
  kind_ = kind;
  name_ = name;
  ThreadState& state = t_state;
  outermost_ = state.depth == 0;
  const int lvl = level();
  if (lvl >= 2 || (lvl == 1 && outermost_)) {
    Line line;
    line.depth = state.depth;
    line.head = (kind == Kind::Backward ? "backward " : "") + name_ + "  " + inputs;
    if (!device.empty()) line.head += "  " + device;
    line_ = static_cast<int64_t>(state.lines.size());
    state.lines.push_back(std::move(line));
  }
  ++state.depth;
  uncaught_ = std::uncaught_exceptions();
  start_ = std::chrono::steady_clock::now();
}

void OpScope::end() {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  ThreadState& state = t_state;
  --state.depth;
  if (profiler::enabled()) {
    if (kind_ == Kind::Backward)
      profiler::add("backward " + name_, seconds);
    else if (outermost_ && profiler::timing_ops())
      profiler::add(name_, seconds);
  }
  if (line_ >= 0 && line_ < static_cast<int64_t>(state.lines.size())) {
    Line& line = state.lines[static_cast<size_t>(line_)];
    line.ms = seconds * 1e3;
    line.threw = std::uncaught_exceptions() > uncaught_;
  }
  if (state.depth == 0 && !state.lines.empty()) flush(state.lines);
}

}  // namespace sc::trace
