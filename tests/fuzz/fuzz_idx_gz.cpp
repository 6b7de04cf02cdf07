// IDX files inside valid gzip streams. Mutating compressed bytes rarely yields a stream that
// inflates (fuzz_idx covers that), so here the input is the IDX content and the target
// compresses it, then damages the stream in one of four ways picked by the last input byte:
// intact, cut short, followed by garbage, or two gzip members back to back.
#include <zlib.h>

#include <vector>

#include "fuzz_idx.h"

namespace {

std::vector<uint8_t> gzip(const uint8_t* data, size_t size) {
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();  // +16: gzip
  std::vector<uint8_t> out(deflateBound(&z, size));
  z.next_in = const_cast<uint8_t*>(data);
  z.avail_in = static_cast<uInt>(size);
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int damage = size > 0 ? data[size - 1] % 4 : 0;
  std::vector<uint8_t> stream = gzip(data, size);
  if (damage == 1) stream.resize(stream.size() / 2);
  if (damage == 2) stream.insert(stream.end(), {0x00, 0x42, 0x1f});
  if (damage == 3) {
    const std::vector<uint8_t> second = gzip(data, size / 2);
    stream.insert(stream.end(), second.begin(), second.end());
  }
  const std::filesystem::path& dir = sc::fuzz::scratch_dir("idx_gz");
  const std::filesystem::path file = dir / "input.gz";
  sc::fuzz::write_file(file, stream.data(), stream.size());
  sc::fuzz::check_idx_file(file, dir);
  return 0;
}
