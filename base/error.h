#pragma once
// sc::Error is the one exception type the engine throws for bad input.
// Messages name the op and the shapes/dtypes/devices involved, so a user can
// tell what went wrong without a debugger.
#include <sstream>
#include <stdexcept>
#include <string>

namespace sc {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace sc

// SC_CHECK(cond, "op: ", shape, " is wrong") throws sc::Error with the pieces streamed together.
#define SC_CHECK(cond, ...)                                          \
  do {                                                               \
    if (!(cond)) throw ::sc::Error(::sc::detail::concat(__VA_ARGS__)); \
  } while (0)
