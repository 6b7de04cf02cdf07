// Image decoding through the image-folder reader: the input is the one image of a one-class
// folder, decoded as the file holds, as gray and as RGB (ssl/data/image_decode.h), and once
// more brought to 7x7 (ssl/data/image_resize.h). The decoders themselves are
// Debian's libpng and libjpeg-turbo (not instrumented here; fuzzed upstream); this target
// checks our side: the format sniffing, the size limit, the error paths and the conversions.
#include "fuzz_util.h"
#include "ssl/data/image_folder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::filesystem::path& root = sc::fuzz::scratch_dir("image");
  static const bool made = std::filesystem::create_directories(root / "class");
  (void)made;
  // The reader picks files by extension and decodes by content, so one name covers PNG and JPEG.
  sc::fuzz::write_file(root / "class" / "image.png", data, size);
  for (int channels : {0, 1, 3})
    sc::fuzz::clean_errors_only([&] { sc::ssl::load_image_folder(root, {.channels = channels}); });
  sc::fuzz::clean_errors_only([&] { sc::ssl::load_image_folder(root, {.channels = 0, .image_size = 7}); });
  return 0;
}
