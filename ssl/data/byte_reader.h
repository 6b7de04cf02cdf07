#pragma once
// Reads the bytes of a data file that may or may not be gzip-compressed. Compression is
// recognised by the file's first two bytes (1f 8b, the gzip magic), never by its name, so
// "train-images-idx3-ubyte" that is really gzipped, or a ".gz" that is not, both load.
// Every failure is an sc::Error naming the file.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace sc::ssl {

class ByteReader {
 public:
  explicit ByteReader(const std::string& path);
  ~ByteReader();
  ByteReader(const ByteReader&) = delete;
  ByteReader& operator=(const ByteReader&) = delete;

  const std::string& path() const { return path_; }
  bool compressed() const { return gz_ != nullptr; }

  // Reads up to n bytes into dst and returns how many it read: fewer than n only at the end
  // of the data. A read or decompression error (a corrupt gzip stream) throws.
  size_t read(uint8_t* dst, size_t n);
  // Reads up to n bytes, growing the vector chunk by chunk, so a header that claims more
  // data than the file holds never makes us allocate more than the file really has.
  std::vector<uint8_t> read_up_to(size_t n);
  // Counts the bytes left (reads them to the end).
  uint64_t count_remaining();

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  void* gz_ = nullptr;  // gzFile; kept opaque so zlib.h stays out of this header
};

// The largest data file we accept (after decompression): larger means a corrupt header
// rather than a real dataset, and refusing it beats trying to allocate it.
constexpr uint64_t kMaxDataFileBytes = uint64_t{8} << 30;  // 8 GiB

}  // namespace sc::ssl
