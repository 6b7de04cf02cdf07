// NumPy .npy files (ssl/export.h read_npy): the magic, the Python-dict header, the shape.
#include "fuzz_util.h"
#include "ssl/export.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::filesystem::path& dir = sc::fuzz::scratch_dir("npy");
  const std::filesystem::path file = dir / "features.npy";
  sc::fuzz::write_file(file, data, size);
  sc::fuzz::clean_errors_only([&] { sc::ssl::read_npy(file); });
  return 0;
}
