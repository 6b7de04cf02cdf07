#pragma once
// Small helpers shared by the test files.
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

#include "base/error.h"
#include "core/generator.h"

namespace sc::test {

// The message of the sc::Error that f throws, or "no error".
inline std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return std::string(e.what());
  }
  return std::string("no error");
}

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// n bytes drawn uniformly from 0..255 by Generator(seed): random uint8 test images.
inline std::vector<uint8_t> random_bytes(int64_t n, uint64_t seed) {
  Generator gen(seed);
  std::vector<uint8_t> bytes(static_cast<size_t>(n));
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(gen.below(256));
  return bytes;
}

// A fresh folder under the system temp dir, removed with everything in it at scope exit
// (after giving back write permission, for tests that take it away).
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& tag = "test") {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           ("sc_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::permissions(path, std::filesystem::perms::owner_all, std::filesystem::perm_options::add, ignored);
    std::filesystem::remove_all(path, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path / name).string(); }
};

}  // namespace sc::test
