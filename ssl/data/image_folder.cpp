#include "ssl/data/image_folder.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "base/error.h"
#include "ssl/data/byte_reader.h"
#include "ssl/data/image_decode.h"

namespace fs = std::filesystem;

namespace sc::ssl {

namespace {

bool is_image_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

bool is_hidden(const fs::path& p) { return p.filename().string().starts_with("."); }

std::vector<fs::path> sorted_entries(const fs::path& dir, bool want_dirs) {
  std::vector<fs::path> out;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    if (is_hidden(e.path())) continue;
    if (want_dirs ? e.is_directory() : (e.is_regular_file() && is_image_name(e.path()))) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

Dataset load_image_folder(const std::string& root, int channels, ImageFolderInfo* info) {
  SC_CHECK(channels == 1 || channels == 3, "load_image_folder(", root, "): channels must be 1 or 3, got ", channels);
  SC_CHECK(fs::is_directory(root), "image folder ", root, " does not exist or is not a folder");
  const std::vector<fs::path> class_dirs = sorted_entries(root, /*want_dirs=*/true);
  SC_CHECK(!class_dirs.empty(), "image folder ", root, " has no class subfolders (expected root/<class>/<image>.png)");

  ImageFolderInfo local;
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  int width = 0, height = 0;
  std::string first_file;
  for (size_t label = 0; label < class_dirs.size(); ++label) {
    const std::vector<fs::path> files = sorted_entries(class_dirs[label], /*want_dirs=*/false);
    SC_CHECK(!files.empty(), "image folder ", root, ": class folder ", class_dirs[label].string(),
             " holds no .png/.jpg/.jpeg image");
    local.class_names.push_back(class_dirs[label].filename().string());
    for (const fs::path& file : files) {
      const std::string path = file.string();
      // Read the bytes ourselves (so a missing or unreadable file names itself), then decode.
      ByteReader in(path);
      const std::vector<uint8_t> bytes = in.read_up_to(kMaxDataFileBytes);
      const DecodedImage image = decode_image(bytes, channels, path);
      const int w = image.width, h = image.height;
      if (first_file.empty()) {
        width = w, height = h, first_file = path;
      }
      SC_CHECK(w == width && h == height, "image folder ", root, ": ", path, " is ", w, "x", h, " (width x height) but ",
               first_file, " is ", width, "x", height, "; all images must share one size");
      // decode_image gives interleaved HWC; the dataset keeps CHW.
      const size_t plane = static_cast<size_t>(w) * h;
      const size_t base = pixels.size();
      pixels.resize(base + plane * channels);
      for (size_t p = 0; p < plane; ++p)
        for (int c = 0; c < channels; ++c) pixels[base + c * plane + p] = image.pixels[p * channels + c];
      labels.push_back(static_cast<int64_t>(label));
      local.files.push_back(path);
    }
  }
  const auto num_classes = static_cast<int64_t>(class_dirs.size());
  Dataset dataset(fs::path(root).lexically_normal().string(), channels, height, width, std::move(pixels),
                  std::move(labels), num_classes);
  if (info) *info = std::move(local);
  return dataset;
}

}  // namespace sc::ssl
