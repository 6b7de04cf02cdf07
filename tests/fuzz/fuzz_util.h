#pragma once
// Shared by the fuzz targets (tests/fuzz/README.md). The readers take paths, as the program
// calls them, so a target writes libFuzzer's bytes to a file and runs the real reader on it.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "base/error.h"

namespace sc::fuzz {

// A scratch folder for one fuzzing process: in /dev/shm (memory) when the machine has it,
// named after the target and the process id so parallel jobs never share files. Removed
// when the process exits normally.
inline const std::filesystem::path& scratch_dir(const char* target) {
  static const std::filesystem::path dir = [&] {
    const std::filesystem::path base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    std::filesystem::path d = base / ("sc-fuzz-" + std::string(target) + "-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  static const struct Cleanup {
    ~Cleanup() {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    }
  } cleanup;
  return dir;
}

inline void write_file(const std::filesystem::path& path, const uint8_t* data, size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();  // the scratch folder is ours; failing here is not the reader's fault
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}

// Runs f. An sc::Error is the reader's clean answer to a bad file, the expected outcome for
// most inputs. Anything else (another exception type, a crash, a sanitizer report, a huge
// allocation) escapes, and libFuzzer stops and saves the input.
template <typename F>
void clean_errors_only(F&& f) {
  try {
    f();
  } catch (const sc::Error&) {
  }
}

}  // namespace sc::fuzz
