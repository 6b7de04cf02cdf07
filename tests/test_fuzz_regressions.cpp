// Inputs the fuzzers in tests/fuzz/ found (scripts/fuzz.sh), each now answered by an
// sc::Error that names the problem. Before the fix each one escaped as another exception
// type or tripped a sanitizer. The inputs are written out by hand, reduced to what matters.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>
#include <fstream>
#include <string>

#include <zlib.h>

#include "ssl/config.h"
#include "ssl/data/image_decode.h"
#include "ssl/export.h"
#include "test_util.h"

using namespace sc;
using namespace sc::test;
using namespace sc::ssl;

namespace {

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// What f throws: the sc::Error message, "no error", or "OTHER: ..." for any other exception
// (the failure these tests guard against).
std::string outcome(const std::function<void()>& f) {
  try {
    return message_of(f);
  } catch (const std::exception& e) {
    return std::string("OTHER: ") + e.what();
  }
}

// A .npy file: magic, version 1.0, little-endian header length, header, data.
std::string npy(const std::string& header, const std::string& data = "") {
  std::string out = "\x93NUMPY\x01";
  out += '\0';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + data;
}

using Bytes = std::vector<uint8_t>;

void append_be32(Bytes& b, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<uint8_t>(v >> shift));
}

// A PNG made of the given chunks (type, data), each with its length and a correct CRC.
Bytes png_file(const std::vector<std::pair<std::string, Bytes>>& chunks) {
  Bytes out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  for (const auto& [type, data] : chunks) {
    append_be32(out, static_cast<uint32_t>(data.size()));
    Bytes body(type.begin(), type.end());
    body.insert(body.end(), data.begin(), data.end());
    out.insert(out.end(), body.begin(), body.end());
    append_be32(out, static_cast<uint32_t>(crc32(0, body.data(), static_cast<uInt>(body.size()))));
  }
  return out;
}

// IHDR of an 8-bit gray image.
Bytes ihdr(uint32_t width, uint32_t height) {
  Bytes b;
  append_be32(b, width), append_be32(b, height);
  b.insert(b.end(), {8, 0, 0, 0, 0});
  return b;
}

std::string decode(const Bytes& bytes) {
  return outcome([&] { decode_image(bytes, 3, "x.png"); });
}

}  // namespace

TEST_CASE("fuzz regressions: read_npy answers damaged headers with an sc::Error") {
  TempDir dir("fuzz_npy");
  const std::string path = dir.file("x.npy");
  auto read = [&](const std::string& bytes) {
    write_file(path, bytes);
    return outcome([&] { read_npy(path); });
  };
  // fuzz_npy: nothing after 'fortran_order': made the old reader call compare() past the end
  // of the header, which threw std::out_of_range.
  CHECK(contains(read(npy("{'descr': '<i8', 'fortran_order':")), "read_npy: '" + path + "' is in Fortran order"));
  // The same family, each a different way to run off the end or feed std::stoll garbage.
  CHECK(contains(read(npy("{'descr': '<i8")), "'descr' is not a quoted string"));
  CHECK(contains(read(npy("{'descr': '<i8', 'fortran_order': False, 'shape': (3")), "'shape' is not a tuple"));
  CHECK(contains(read(npy("{'descr': '<i8', 'fortran_order': False, 'shape': (x,)}")),
                 "shape entry 'x' is not a whole number"));
  CHECK(contains(read(npy("{'descr': '<i8', 'fortran_order': False, 'shape': (-1,)}")),
                 "shape entry '-1' is not a whole number"));
  CHECK(contains(read(npy("{'descr': '<i8', 'fortran_order': False, 'shape': (99999999999999999999999,)}")),
                 "has dim 99999999999999999999999, more than the file's"));
  CHECK(contains(read(npy("{'descr': '<i8', 'fortran_order': False, 'shape': (1,,2)}")),
                 "shape entry '' is not a whole number"));
  // Still read: the spellings numpy writes.
  CHECK(read(npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2, ), }", std::string(8, '\0'))) == "no error");
  CHECK(read(npy("{'descr': '<i4', 'fortran_order': False, 'shape': (), }", std::string(4, '\0'))) == "no error");
}

TEST_CASE("fuzz regressions: config JSON with a number beyond double is an sc::Error") {
  // fuzz_config: nlohmann reports this as out_of_range, not parse_error, and it escaped.
  CHECK(contains(outcome([] { config_from_json(R"({"lr": 1e999})"); }), "config JSON: "));
  CHECK(contains(outcome([] { config_from_json(R"({"lr": 1e999})"); }), "number overflow"));
}

TEST_CASE("fuzz regressions: hostile PNG and JPEG files are refused before they do harm") {
  // fuzz_image, stb_image 2.27: a JPEG Huffman table with more than 256 codes overran a
  // 257-entry array (UBSan: index 257 out of bounds). SOI, then a DHT whose 16 counts are all 255.
  Bytes jpeg = {0xff, 0xd8, 0xff, 0xc4, 0x00, 0x13, 0x00};
  jpeg.insert(jpeg.end(), 16, 0xff);
  CHECK(contains(decode(jpeg), "cannot decode image file x.png as JPEG: "));
  // fuzz_image, stb_image 2.27: a 60-byte PNG whose IDAT chunk claims 2^31 - 1 bytes made stb
  // allocate 2 GiB before noticing the data is not there.
  Bytes huge_idat = png_file({{"IHDR", ihdr(4, 4)}});
  append_be32(huge_idat, 0x7fffffff);
  huge_idat.insert(huge_idat.end(), {'I', 'D', 'A', 'T', 1, 2, 3, 4});
  CHECK(contains(decode(huge_idat), "cannot decode image file x.png as PNG: "));
  // A header can declare any size in a few bytes: refused before any pixel memory is taken.
  CHECK(contains(decode(png_file({{"IHDR", ihdr(100000, 100000)}, {"IDAT", {1, 2, 3}}})),
                 "x.png declares 100000x100000 pixels (width x height), more than the limit of 67108864 pixels"));
  // Only PNG and JPEG are decoded, whatever the name says (stb_image also took BMP, GIF, PSD, ...).
  CHECK(contains(decode({'B', 'M', 0, 0, 0, 0}), "not a PNG or JPEG file"));
  CHECK(contains(decode({}), "image file x.png is empty"));
}
