#pragma once
// An image folder, in one of two layouts:
//
//   labeled     one subfolder per class, the classes numbered in sorted name order:
//                 root/cat/001.png, root/cat/002.jpg, root/dog/a.png -> class 0 = cat, 1 = dog
//   unlabeled   the images directly in root, no subfolders:  root/001.png, root/002.jpg, ...
//               (Dataset::unlabeled: training works, evaluation needs labels from elsewhere)
//
// Files ending in .png, .jpg or .jpeg (any case) are decoded by content (ssl/data/image_decode.h);
// .bmp, .gif, .tif, .tiff and .webp files are refused by name (those decoders are not built
// in: convert them to PNG); other files and names starting with '.' are skipped. A folder
// with both images and subfolders, an empty folder or a class folder without images is an
// error.
//
// Channels: options.channels 0 keeps the images' own (gray files give 1 channel, colour files
// 3; a folder mixing the two is an error naming one of each), 1 or 3 converts every image.
// Size: options.image_size 0 keeps the images' own size (all must share one, or the error
// names two that differ), N > 0 brings each image to N x N as it is decoded (the policy of
// ssl/data/image_resize.h: the shorter side to N, the middle kept, bilinear, antialiased).
// Every problem is an sc::Error naming the file.
#include <cstdint>
#include <string>
#include <vector>

#include "ssl/data/dataset.h"

namespace sc::ssl {

struct ImageFolderOptions {
  int channels = 0;        // 0: as the images (all must agree), 1: gray, 3: RGB
  int64_t image_size = 0;  // 0: the images' own size (all must agree), N: N x N
};

struct ImageFolderInfo {
  std::vector<std::string> class_names;  // index = class label; empty for an unlabeled folder
  std::vector<std::string> files;        // index = dataset index
};

Dataset load_image_folder(const std::string& root, const ImageFolderOptions& options = {},
                          ImageFolderInfo* info = nullptr);

}  // namespace sc::ssl
