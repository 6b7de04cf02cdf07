#include "ssl/data/image_folder.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "base/error.h"
#include "ssl/data/byte_reader.h"
#include "ssl/data/image_decode.h"
#include "ssl/data/image_resize.h"

namespace fs = std::filesystem;

namespace sc::ssl {

namespace {

std::string lower_extension(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

bool is_image_name(const fs::path& p) {
  const std::string ext = lower_extension(p);
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

// Image formats people have whose decoders this build does not carry. Skipping them would
// silently train on part of a folder, so they are refused by name.
bool is_unsupported_image_name(const fs::path& p) {
  const std::string ext = lower_extension(p);
  return ext == ".bmp" || ext == ".gif" || ext == ".tif" || ext == ".tiff" || ext == ".webp";
}

bool is_hidden(const fs::path& p) { return p.filename().string().starts_with("."); }

struct FolderEntries {
  std::vector<fs::path> dirs, images;  // each sorted by name
};

FolderEntries list_folder(const fs::path& dir) {
  FolderEntries out;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    if (is_hidden(e.path())) continue;
    if (e.is_directory()) {
      out.dirs.push_back(e.path());
    } else if (e.is_regular_file()) {
      SC_CHECK(!is_unsupported_image_name(e.path()), "image folder: ", e.path().string(), " is a ",
               lower_extension(e.path()).substr(1),
               " file; only PNG and JPEG images are read (convert the folder's images to PNG)");
      if (is_image_name(e.path())) out.images.push_back(e.path());
    }
  }
  std::sort(out.dirs.begin(), out.dirs.end());
  std::sort(out.images.begin(), out.images.end());
  return out;
}

const char* channel_word(int channels) { return channels == 1 ? "gray (1 channel)" : "colour (3 channels)"; }

// Decodes files one by one into one CHW buffer, bringing each to the options' channels and
// size, and checks that every image agrees with the first on what the options leave free.
class FolderDecoder {
 public:
  FolderDecoder(std::string root, const ImageFolderOptions& options) : root_(std::move(root)), options_(options) {}

  void add(const std::string& path) {
    ByteReader in(path);  // a missing or unreadable file names itself
    const std::vector<uint8_t> bytes = in.read_up_to(kMaxDataFileBytes);
    const DecodedImage image = decode_image(bytes, options_.channels, path);
    if (first_file_.empty()) {
      first_file_ = path;
      channels_ = image.channels;
      first_file_channels_ = image.file_channels;
      width_ = image.width, height_ = image.height;
    }
    SC_CHECK(image.channels == channels_, "image folder ", root_, ": ", path, " is ", channel_word(image.file_channels),
             " but ", first_file_, " is ", channel_word(first_file_channels_),
             "; give --channels 1 or --channels 3 to convert every image to one of them");
    if (options_.image_size == 0)
      SC_CHECK(image.width == width_ && image.height == height_, "image folder ", root_, ": ", path, " is ", image.width,
               "x", image.height, " (width x height) but ", first_file_, " is ", width_, "x", height_,
               "; all images must share one size, or give --image-size N to bring each to N x N (the shorter side "
               "scaled to N, the middle kept)");
    // decode_image gives interleaved HWC; the dataset keeps CHW.
    const size_t plane = static_cast<size_t>(image.width) * image.height;
    std::vector<uint8_t> chw(plane * channels_);
    for (size_t p = 0; p < plane; ++p)
      for (int c = 0; c < channels_; ++c) chw[c * plane + p] = image.pixels[p * channels_ + c];
    if (options_.image_size > 0)
      chw = resize_shorter_side_center_crop(chw, channels_, image.height, image.width, options_.image_size);
    pixels_.insert(pixels_.end(), chw.begin(), chw.end());
  }

  int channels() const { return channels_; }
  int64_t height() const { return options_.image_size > 0 ? options_.image_size : height_; }
  int64_t width() const { return options_.image_size > 0 ? options_.image_size : width_; }
  std::vector<uint8_t>& pixels() { return pixels_; }

 private:
  std::string root_;
  ImageFolderOptions options_;
  std::string first_file_;
  int channels_ = 0, first_file_channels_ = 0;
  int width_ = 0, height_ = 0;
  std::vector<uint8_t> pixels_;
};

}  // namespace

Dataset load_image_folder(const std::string& root, const ImageFolderOptions& options, ImageFolderInfo* info) {
  SC_CHECK(options.channels == 0 || options.channels == 1 || options.channels == 3, "load_image_folder(", root,
           "): channels must be 0 (as the images), 1 or 3, got ", options.channels);
  SC_CHECK(options.image_size >= 0 && options.image_size <= 8192,
           "load_image_folder(", root, "): image size must be in [0, 8192] (0: the images' own), got ",
           options.image_size);
  SC_CHECK(fs::is_directory(root), "image folder ", root, " does not exist or is not a folder");
  const FolderEntries top = list_folder(root);
  SC_CHECK(!top.dirs.empty() || !top.images.empty(), "image folder ", root,
           " holds no .png/.jpg/.jpeg images and no class subfolders (expected root/<class>/<image>.png, or "
           "root/<image>.png for unlabeled images)");
  SC_CHECK(top.dirs.empty() || top.images.empty(), "image folder ", root, " holds both images (",
           top.images.front().filename().string(), ") and subfolders (", top.dirs.front().filename().string(),
           "); put every image in a class subfolder (root/<class>/<image>), or every image directly in the folder "
           "(unlabeled)");
  const std::string name = fs::path(root).lexically_normal().string();
  ImageFolderInfo local;
  FolderDecoder decoder(name, options);

  if (!top.images.empty()) {  // unlabeled: the images themselves
    for (const fs::path& file : top.images) {
      decoder.add(file.string());
      local.files.push_back(file.string());
    }
    Dataset dataset = Dataset::unlabeled(name, decoder.channels(), decoder.height(), decoder.width(),
                                         std::move(decoder.pixels()));
    if (info) *info = std::move(local);
    return dataset;
  }

  std::vector<int64_t> labels;
  for (size_t label = 0; label < top.dirs.size(); ++label) {
    const FolderEntries entries = list_folder(top.dirs[label]);
    SC_CHECK(!entries.images.empty(), "image folder ", root, ": class folder ", top.dirs[label].string(),
             " holds no .png/.jpg/.jpeg image",
             entries.dirs.empty() ? "" : " (its subfolders are not read: the images of a class sit directly in it)");
    local.class_names.push_back(top.dirs[label].filename().string());
    for (const fs::path& file : entries.images) {
      decoder.add(file.string());
      labels.push_back(static_cast<int64_t>(label));
      local.files.push_back(file.string());
    }
  }
  Dataset dataset(name, decoder.channels(), decoder.height(), decoder.width(), std::move(decoder.pixels()),
                  std::move(labels), static_cast<int64_t>(top.dirs.size()));
  if (info) *info = std::move(local);
  return dataset;
}

}  // namespace sc::ssl
