// CIFAR-10 / CIFAR-100 binary batches, read as each of the three label kinds.
#include "fuzz_util.h"
#include "ssl/data/cifar.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::filesystem::path& dir = sc::fuzz::scratch_dir("cifar");
  const std::filesystem::path file = dir / "batch.bin";
  sc::fuzz::write_file(file, data, size);
  for (auto kind : {sc::ssl::CifarKind::Cifar10, sc::ssl::CifarKind::Cifar100Fine, sc::ssl::CifarKind::Cifar100Coarse})
    sc::fuzz::clean_errors_only([&] { sc::ssl::load_cifar_files({file.string()}, kind, "fuzz"); });
  return 0;
}
