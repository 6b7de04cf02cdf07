#pragma once
// A labelled image dataset held in memory: every image is uint8 CHW, all of one size,
// packed one after another in a single contiguous buffer (Fashion-MNIST's 60,000 training
// images take 47 MB this way; as float they would take four times that). Images are
// converted to float one at a time, when a batch is built.
//
// Every reader (idx.h, cifar.h, image_folder.h) returns this one type, after validating
// its files completely: a Dataset that exists is whole and consistent.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "augment/image.h"

namespace sc::ssl {

// The largest image any reader accepts: 64 Mpixel (8192 x 8192). A file header of a few
// bytes can declare billions of pixels; the readers refuse such a size before they read or
// decode anything (a 4 MB .gz once declared two 16384 x 16384 images and took 7.3 GB).
inline constexpr int64_t kMaxImagePixels = int64_t{1} << 26;

class Dataset {
 public:
  Dataset() = default;
  // `pixels` holds labels.size() images of channels x height x width bytes each;
  // every label must be in [0, num_classes). Throws sc::Error naming `name` otherwise.
  Dataset(std::string name, int64_t channels, int64_t height, int64_t width, std::vector<uint8_t> pixels,
          std::vector<int64_t> labels, int64_t num_classes);
  // Images without labels (a folder of images with no class subfolders): training works on
  // them; evaluation refuses them (labeled() is false). label(i) is 0 for every image.
  static Dataset unlabeled(std::string name, int64_t channels, int64_t height, int64_t width,
                           std::vector<uint8_t> pixels);
  // The same labels and name with other images (`pixels` holds size() images of the new size).
  Dataset with_images(int64_t channels, int64_t height, int64_t width, std::vector<uint8_t> pixels) const;

  // "fashion-mnist/train", a file or folder name: used in error messages and logs.
  const std::string& name() const { return name_; }
  int64_t size() const { return static_cast<int64_t>(labels_.size()); }
  int64_t channels() const { return channels_; }
  int64_t height() const { return height_; }
  int64_t width() const { return width_; }
  int64_t num_classes() const { return num_classes_; }
  // False for Dataset::unlabeled: its labels are placeholders, not classes.
  bool labeled() const { return labeled_; }
  // Bytes per image: channels * height * width.
  int64_t image_numel() const { return channels_ * height_ * width_; }

  // Image i as uint8 CHW (image_numel() bytes). Throws for i outside [0, size()).
  std::span<const uint8_t> image(int64_t i) const;
  int64_t label(int64_t i) const;
  // Image i as float CHW in [0, 1] (x / 255), the form transforms take.
  augment::Image float_image(int64_t i) const;

  const std::vector<int64_t>& labels() const { return labels_; }

 private:
  void check_index(int64_t i) const;

  std::string name_;
  int64_t channels_ = 0, height_ = 0, width_ = 0, num_classes_ = 0;
  bool labeled_ = true;
  std::vector<uint8_t> pixels_;
  std::vector<int64_t> labels_;
};

// The first `count` images of `dataset` as a new Dataset (count <= 0 or >= size: a copy of
// all of it). Used for subsets, quick runs and tests.
Dataset dataset_head(const Dataset& dataset, int64_t count);

// The images at `indices` (in that order) as a new Dataset named `name`; labeled() is kept.
Dataset dataset_select(const Dataset& dataset, const std::vector<int64_t>& indices, const std::string& name);

}  // namespace sc::ssl
