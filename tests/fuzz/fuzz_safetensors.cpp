// safetensors files (ssl/export.h read_safetensors): the length prefix, the JSON header and
// every tensor's dtype, shape and data offsets.
#include "fuzz_util.h"
#include "ssl/export.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::filesystem::path& dir = sc::fuzz::scratch_dir("safetensors");
  const std::filesystem::path file = dir / "model.safetensors";
  sc::fuzz::write_file(file, data, size);
  sc::fuzz::clean_errors_only([&] { sc::ssl::read_safetensors(file); });
  return 0;
}
