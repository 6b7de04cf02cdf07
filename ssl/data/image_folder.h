#pragma once
// An image folder: one subfolder per class, the classes numbered in sorted name order,
//   root/cat/001.png, root/cat/002.jpg, root/dog/a.png  ->  class 0 = cat, class 1 = dog
// Files ending in .png, .jpg or .jpeg (any case) are decoded (ssl/data/image_decode.h); other files
// (and names starting with '.') are skipped. Every image is converted to `channels` (1 = gray,
// 3 = RGB) and all must share one size. Any problem is an sc::Error naming the file.
#include <string>
#include <vector>

#include "ssl/data/dataset.h"

namespace sc::ssl {

struct ImageFolderInfo {
  std::vector<std::string> class_names;  // index = class label
  std::vector<std::string> files;        // index = dataset index
};

Dataset load_image_folder(const std::string& root, int channels = 3, ImageFolderInfo* info = nullptr);

}  // namespace sc::ssl
