// IDX files (MNIST, Fashion-MNIST) exactly as given: plain, or gzip when they start with the
// gzip magic (the corpus holds both), so corrupt gzip streams are fuzzed here too.
#include "fuzz_idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::filesystem::path& dir = sc::fuzz::scratch_dir("idx");
  const std::filesystem::path file = dir / "input";
  sc::fuzz::write_file(file, data, size);
  sc::fuzz::check_idx_file(file, dir);
  return 0;
}
