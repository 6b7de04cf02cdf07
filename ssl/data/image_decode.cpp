#include "ssl/data/image_decode.h"

#include <png.h>

// jpeglib.h needs size_t and FILE declared before it.
#include <cstddef>
#include <cstdio>
#include <jpeglib.h>

#include <algorithm>
#include <csetjmp>
#include <cstring>

#include "base/error.h"

namespace sc::ssl {

namespace {

bool is_png(const std::vector<uint8_t>& b) {
  static constexpr uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  return b.size() >= 8 && std::equal(signature, signature + 8, b.begin());
}
bool is_jpeg(const std::vector<uint8_t>& b) { return b.size() >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff; }

void check_pixels(int64_t width, int64_t height, const std::string& path) {
  SC_CHECK(width * height <= kMaxImagePixels, "image file ", path, " declares ", width, "x", height,
           " pixels (width x height), more than the limit of ", kMaxImagePixels, " pixels");
}

// ---- PNG: libpng ---------------------------------------------------------------------
// libpng reports an error through a callback that must not return: it longjmps back to the
// setjmp in decode_png_native. A longjmp is only safe when no C++ object with a destructor
// lives in the frames it skips, so that function takes its C++ objects (output, rows, error)
// from its caller: they exist before the setjmp and outlive the jump.

struct PngInput {
  const std::vector<uint8_t>* bytes;
  size_t at = 0;
};

void png_read_from_memory(png_structp png, png_bytep dst, png_size_t n) {
  auto* in = static_cast<PngInput*>(png_get_io_ptr(png));
  if (n > in->bytes->size() - in->at) png_error(png, "the file ends in the middle of a chunk (truncated)");
  std::memcpy(dst, in->bytes->data() + in->at, n);
  in->at += n;
}

// Errors jump back with libpng's message; warnings (odd colour profiles and the like) are ignored.
[[noreturn]] void png_fail(png_structp png, png_const_charp message) {
  auto* error = static_cast<std::string*>(png_get_error_ptr(png));
  *error = message;
  png_longjmp(png, 1);
}
void png_warning_ignored(png_structp, png_const_charp) {}

// Decodes to 8-bit gray, gray + alpha, RGB or RGBA, whichever the file holds (palette,
// low-bit-depth and tRNS transparency are expanded, 16 bits keep the high byte); returns the
// number of channels, or 0 with `error` set. `too_large` is set instead for an oversized header.
int decode_png_native(const std::vector<uint8_t>& bytes, DecodedImage& out, std::vector<png_bytep>& rows,
                      std::string& error, bool& too_large) {
  PngInput input{&bytes};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &error, png_fail, png_warning_ignored);
  if (!png) {
    error = "out of memory";
    return 0;
  }
  png_infop info = png_create_info_struct(png);
  if (!info || setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return 0;
  }
  png_set_read_fn(png, &input, png_read_from_memory);
  png_read_info(png, info);
  const png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
  out.width = static_cast<int>(width), out.height = static_cast<int>(height);
  if (static_cast<int64_t>(width) * height > kMaxImagePixels) {
    too_large = true;
    png_destroy_read_struct(&png, &info, nullptr);
    return 0;
  }
  png_set_expand(png);
  png_set_strip_16(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const int channels = png_get_channels(png, info);
  out.pixels.resize(static_cast<size_t>(width) * height * channels);
  rows.resize(height);
  for (png_uint_32 y = 0; y < height; ++y) rows[y] = out.pixels.data() + static_cast<size_t>(y) * width * channels;
  png_read_image(png, rows.data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return channels;
}

// The file's channels to the requested ones, with stb_image's rules (which this reader used
// before): luma = (77 R + 150 G + 29 B) / 256, gray is replicated to RGB, alpha is dropped.
std::vector<uint8_t> convert_channels(const std::vector<uint8_t>& in, int from, int to) {
  const size_t n = in.size() / from;
  std::vector<uint8_t> out(n * to);
  for (size_t p = 0; p < n; ++p) {
    const uint8_t* px = &in[p * from];
    if (to == 1) {
      out[p] = from <= 2 ? px[0] : static_cast<uint8_t>((px[0] * 77 + px[1] * 150 + px[2] * 29) >> 8);
    } else {
      for (int c = 0; c < 3; ++c) out[p * 3 + c] = from <= 2 ? px[0] : px[c];
    }
  }
  return out;
}

DecodedImage decode_png(const std::vector<uint8_t>& bytes, int channels, const std::string& path) {
  DecodedImage out;
  std::vector<png_bytep> rows;
  std::string error;
  bool too_large = false;
  const int native_channels = decode_png_native(bytes, out, rows, error, too_large);
  if (too_large) check_pixels(out.width, out.height, path);
  SC_CHECK(native_channels > 0, "cannot decode image file ", path, " as PNG: ", error);
  // Gray and gray + alpha are gray files; RGB, RGBA and palette files are colour.
  out.file_channels = native_channels <= 2 ? 1 : 3;
  out.channels = channels == 0 ? out.file_channels : channels;
  if (native_channels != out.channels) out.pixels = convert_channels(out.pixels, native_channels, out.channels);
  return out;
}

// ---- JPEG: libjpeg -------------------------------------------------------------------
// The same arrangement as for PNG: libjpeg's error callback longjmps back to the setjmp in
// decode_jpeg_into, whose C++ objects (the output) come from its caller.

struct JpegErrors {
  jpeg_error_mgr mgr;  // first, so libjpeg's pointer to it is a pointer to the whole struct
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void jpeg_fail(j_common_ptr info) {
  auto* errors = reinterpret_cast<JpegErrors*>(info->err);
  info->err->format_message(info, errors->message);
  std::longjmp(errors->jump, 1);
}

// Warnings (data cut short, bad Huffman codes) would otherwise be printed and the damage
// filled with gray; a training set should not quietly hold such images, so they fail too.
void jpeg_warning(j_common_ptr info, int level) {
  if (level < 0) jpeg_fail(info);
}

// Returns "" on success, else libjpeg's message.
std::string decode_jpeg_into(const std::vector<uint8_t>& bytes, int channels, DecodedImage& out,
                             const std::string& path) {
  jpeg_decompress_struct info{};
  JpegErrors errors{};
  info.err = jpeg_std_error(&errors.mgr);
  errors.mgr.error_exit = jpeg_fail;
  errors.mgr.emit_message = jpeg_warning;
  if (setjmp(errors.jump)) {
    jpeg_destroy_decompress(&info);
    return errors.message;
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&info, TRUE);
  if (static_cast<int64_t>(info.image_width) * info.image_height > kMaxImagePixels) {
    jpeg_destroy_decompress(&info);
    check_pixels(info.image_width, info.image_height, path);  // throws; nothing of libjpeg's is left
  }
  // Colour to gray keeps the luma (Y) plane; gray to RGB replicates it.
  out.file_channels = info.jpeg_color_space == JCS_GRAYSCALE ? 1 : 3;
  out.channels = channels == 0 ? out.file_channels : channels;
  info.out_color_space = out.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&info);
  out.width = static_cast<int>(info.output_width);
  out.height = static_cast<int>(info.output_height);
  out.pixels.resize(static_cast<size_t>(out.width) * out.height * out.channels);
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = out.pixels.data() + static_cast<size_t>(info.output_scanline) * out.width * out.channels;
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return "";
}

}  // namespace

DecodedImage decode_image(const std::vector<uint8_t>& bytes, int channels, const std::string& path) {
  SC_CHECK(channels == 0 || channels == 1 || channels == 3, "decode_image(", path,
           "): channels must be 0 (as the file holds), 1 or 3, got ", channels);
  SC_CHECK(!bytes.empty(), "image file ", path, " is empty");
  if (is_png(bytes)) return decode_png(bytes, channels, path);
  SC_CHECK(is_jpeg(bytes), "cannot decode image file ", path, ": not a PNG or JPEG file (by its first bytes)");
  DecodedImage out;
  const std::string error = decode_jpeg_into(bytes, channels, out, path);
  SC_CHECK(error.empty(), "cannot decode image file ", path, " as JPEG: ", error);
  return out;
}

}  // namespace sc::ssl
