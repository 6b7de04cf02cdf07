#include "ssl/data/cifar.h"

#include <filesystem>

#include "base/error.h"
#include "ssl/data/byte_reader.h"

namespace sc::ssl {

namespace {

constexpr int64_t kSide = 32, kChannels = 3;
constexpr int64_t kPixelBytes = kChannels * kSide * kSide;  // 3072

std::string join(const std::filesystem::path& dir, const std::string& file) { return (dir / file).string(); }

}  // namespace

Dataset load_cifar_files(const std::vector<std::string>& files, CifarKind kind, const std::string& name) {
  SC_CHECK(!files.empty(), "load_cifar_files(", name, "): no files given");
  const int64_t label_bytes = kind == CifarKind::Cifar10 ? 1 : 2;
  const int64_t record_bytes = label_bytes + kPixelBytes;
  const int64_t num_classes = kind == CifarKind::Cifar10 ? 10 : kind == CifarKind::Cifar100Fine ? 100 : 20;
  const char* format = kind == CifarKind::Cifar10 ? "CIFAR-10" : "CIFAR-100";

  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  for (const std::string& path : files) {
    ByteReader in(path);
    // Read one byte past the limit, so an oversized file is told apart from one at the limit.
    std::vector<uint8_t> bytes = in.read_up_to(kMaxDataFileBytes + 1);
    SC_CHECK(bytes.size() <= kMaxDataFileBytes, format, " file ", path, " is larger than the ", kMaxDataFileBytes,
             "-byte limit");
    SC_CHECK(!bytes.empty(), format, " file ", path, " is empty");
    SC_CHECK(bytes.size() % record_bytes == 0, format, " file ", path, " holds ", bytes.size(),
             " bytes, not a whole number of ", record_bytes, "-byte records (", bytes.size() / record_bytes,
             " records and ", bytes.size() % record_bytes, " bytes left over: truncated or wrong format?)");
    const int64_t records = static_cast<int64_t>(bytes.size()) / record_bytes;
    pixels.reserve(pixels.size() + records * kPixelBytes);
    for (int64_t r = 0; r < records; ++r) {
      const uint8_t* rec = bytes.data() + r * record_bytes;
      if (kind == CifarKind::Cifar10) {
        SC_CHECK(rec[0] < 10, format, " file ", path, ": label ", int{rec[0]}, " of record ", r, " is outside [0, 10)");
        labels.push_back(rec[0]);
      } else {
        SC_CHECK(rec[0] < 20, format, " file ", path, ": coarse label ", int{rec[0]}, " of record ", r,
                 " is outside [0, 20)");
        SC_CHECK(rec[1] < 100, format, " file ", path, ": fine label ", int{rec[1]}, " of record ", r,
                 " is outside [0, 100)");
        labels.push_back(kind == CifarKind::Cifar100Fine ? rec[1] : rec[0]);
      }
      pixels.insert(pixels.end(), rec + label_bytes, rec + record_bytes);
    }
  }
  return Dataset(name, kChannels, kSide, kSide, std::move(pixels), std::move(labels), num_classes);
}

Dataset load_cifar10(const std::string& dir, const std::string& split) {
  SC_CHECK(split == "train" || split == "test", "load_cifar10: split must be \"train\" or \"test\", got \"", split, "\"");
  std::vector<std::string> files;
  if (split == "train") {
    for (int i = 1; i <= 5; ++i) files.push_back(join(dir, "data_batch_" + std::to_string(i) + ".bin"));
  } else {
    files.push_back(join(dir, "test_batch.bin"));
  }
  return load_cifar_files(files, CifarKind::Cifar10, "cifar-10/" + split);
}

Dataset load_cifar100(const std::string& dir, const std::string& split, bool coarse_labels) {
  SC_CHECK(split == "train" || split == "test", "load_cifar100: split must be \"train\" or \"test\", got \"", split, "\"");
  return load_cifar_files({join(dir, split + ".bin")}, coarse_labels ? CifarKind::Cifar100Coarse : CifarKind::Cifar100Fine,
                          "cifar-100/" + split);
}

}  // namespace sc::ssl
