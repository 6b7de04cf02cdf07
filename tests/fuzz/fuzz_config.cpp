// The run config as JSON (ssl/config.h), as read from config.json and from checkpoints. A
// document that reads must also write back and read again to the same text, and the
// validation must answer with an sc::Error or nothing.
#include <string>

#include "fuzz_util.h"
#include "ssl/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  sc::ssl::TrainConfig config;
  try {
    config = sc::ssl::config_from_json(text);
  } catch (const sc::Error&) {
    return 0;
  }
  const std::string written = sc::ssl::config_to_json(config);
  if (sc::ssl::config_to_json(sc::ssl::config_from_json(written)) != written) std::abort();
  sc::fuzz::clean_errors_only([&] { sc::ssl::validate_config(config); });
  return 0;
}
