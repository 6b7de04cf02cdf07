#include "ssl/data/byte_reader.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/error.h"

namespace sc::ssl {

namespace {
constexpr size_t kChunkBytes = size_t{1} << 20;  // 1 MiB per read call
}

ByteReader::ByteReader(const std::string& path) : path_(path) {
  // Peek at the first two bytes to decide between plain reads and zlib.
  std::FILE* f = std::fopen(path.c_str(), "rb");
  SC_CHECK(f != nullptr, "cannot open ", path, ": ", std::strerror(errno));
  unsigned char magic[2] = {0, 0};
  const size_t got = std::fread(magic, 1, 2, f);
  const bool is_gzip = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  if (!is_gzip) {
    std::rewind(f);
    file_ = f;
    return;
  }
  std::fclose(f);
  gzFile gz = gzopen(path.c_str(), "rb");
  SC_CHECK(gz != nullptr, "cannot open ", path, " as gzip: ", std::strerror(errno));
  gzbuffer(gz, 1 << 17);
  gz_ = gz;
}

ByteReader::~ByteReader() {
  if (file_) std::fclose(file_);
  if (gz_) gzclose_r(static_cast<gzFile>(gz_));
}

size_t ByteReader::read(uint8_t* dst, size_t n) {
  size_t total = 0;
  while (total < n) {
    const size_t want = std::min(n - total, kChunkBytes);
    size_t got = 0;
    if (file_) {
      got = std::fread(dst + total, 1, want, file_);
      SC_CHECK(!std::ferror(file_), "read error in ", path_, ": ", std::strerror(errno));
    } else {
      auto gz = static_cast<gzFile>(gz_);
      const int r = gzread(gz, dst + total, static_cast<unsigned>(want));
      int err = Z_OK;
      const char* msg = gzerror(gz, &err);
      // zlib reports a gzip stream cut short as Z_BUF_ERROR with a short read; anything
      // else non-OK (bad CRC, invalid deflate data) is corruption.
      SC_CHECK(r >= 0 && (err == Z_OK || err == Z_BUF_ERROR), "corrupt gzip data in ", path_, ": ", msg);
      got = static_cast<size_t>(r);
    }
    total += got;
    if (got < want) break;  // end of the data
  }
  return total;
}

std::vector<uint8_t> ByteReader::read_up_to(size_t n) {
  // The buffer doubles from 64 KiB as data keeps coming: a small file costs a small buffer
  // (fixed 16 MiB steps zero-filled 16 MiB for every small image of an image folder), a large
  // one a few reallocations, and a header that claims more data than the file holds still
  // never makes us allocate more than about twice what the file really has.
  std::vector<uint8_t> out;
  size_t step = size_t{64} << 10;
  while (out.size() < n) {
    const size_t old = out.size();
    const size_t want = std::min(n - old, step);
    step = std::min(step * 2, kChunkBytes * 64);
    out.resize(old + want);
    const size_t got = read(out.data() + old, want);
    out.resize(old + got);
    if (got < want) break;
  }
  return out;
}

uint64_t ByteReader::count_remaining() {
  std::vector<uint8_t> scratch(size_t{64} << 10);  // usually nothing is left: keep this small
  uint64_t total = 0;
  for (;;) {
    const size_t got = read(scratch.data(), scratch.size());
    total += got;
    if (got < scratch.size()) return total;
  }
}

}  // namespace sc::ssl
