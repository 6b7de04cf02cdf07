// Checkpoint files (ssl/checkpoint.h), then what a resume does with one: its config JSON is
// parsed and its tensors are compared against a model's.
#include "fuzz_util.h"
#include "ssl/checkpoint.h"
#include "ssl/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::filesystem::path& dir = sc::fuzz::scratch_dir("checkpoint");
  const std::filesystem::path file = dir / "checkpoint.ckpt";
  sc::fuzz::write_file(file, data, size);
  sc::fuzz::clean_errors_only([&] {
    const sc::ssl::Checkpoint ckpt = sc::ssl::load_checkpoint(file);
    sc::ssl::check_compatible(ckpt.model, ckpt.model);
    sc::ssl::check_compatible(ckpt.optimizer, ckpt.optimizer);
    sc::ssl::config_from_json(ckpt.config);
  });
  return 0;
}
