#pragma once
// Decodes one PNG or JPEG file held in memory into 8-bit pixels. The format is told by the
// first bytes, never by the name. PNG goes through libpng, JPEG through libjpeg(-turbo): both
// are built to take untrusted files and are fuzzed continuously upstream. This reader used
// stb_image until our fuzzer (tests/fuzz/fuzz_image.cpp) found, within minutes, an array
// overrun in its JPEG Huffman tables, undefined shifts in its JPEG bit reader and a 2 GiB
// allocation from a 60-byte PNG in Debian's version (2.27). Every failure is an sc::Error
// naming `path`.
#include <cstdint>
#include <string>
#include <vector>

#include "ssl/data/dataset.h"  // kMaxImagePixels: larger images are refused before decoding

namespace sc::ssl {

struct DecodedImage {
  int width = 0, height = 0;
  int channels = 0;             // 1 or 3: the channels of `pixels`
  int file_channels = 0;        // what the file holds: 1 (gray, gray + alpha) or 3 (colour, palette, RGBA)
  std::vector<uint8_t> pixels;  // HWC, interleaved, `channels` values per pixel
};

// channels 1: gray (colour images give their luma), 3: RGB (gray is replicated), 0: as the
// file holds (1 for gray files, 3 for colour ones). Alpha is dropped. 16-bit PNGs keep their
// high byte.
DecodedImage decode_image(const std::vector<uint8_t>& bytes, int channels, const std::string& path);

}  // namespace sc::ssl
