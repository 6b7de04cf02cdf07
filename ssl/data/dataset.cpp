#include "ssl/data/dataset.h"

#include "base/error.h"

namespace sc::ssl {

Dataset::Dataset(std::string name, int64_t channels, int64_t height, int64_t width, std::vector<uint8_t> pixels,
                 std::vector<int64_t> labels, int64_t num_classes)
    : name_(std::move(name)),
      channels_(channels),
      height_(height),
      width_(width),
      num_classes_(num_classes),
      pixels_(std::move(pixels)),
      labels_(std::move(labels)) {
  SC_CHECK(channels_ > 0 && height_ > 0 && width_ > 0, "dataset ", name_, ": image size must be positive, got ", channels_, "x",
           height_, "x", width_);
  SC_CHECK(height_ * width_ <= kMaxImagePixels, "dataset ", name_, ": images of ", height_, "x", width_,
           " (height x width) are more than the limit of ", kMaxImagePixels, " pixels");
  SC_CHECK(num_classes_ > 0, "dataset ", name_, ": num_classes must be positive, got ", num_classes_);
  const auto expected = static_cast<uint64_t>(labels_.size()) * static_cast<uint64_t>(image_numel());
  SC_CHECK(pixels_.size() == expected, "dataset ", name_, ": ", labels_.size(), " labels need ", expected,
           " pixel bytes, got ", pixels_.size());
  for (size_t i = 0; i < labels_.size(); ++i)
    SC_CHECK(labels_[i] >= 0 && labels_[i] < num_classes_, "dataset ", name_, ": label ", labels_[i], " of image ", i,
             " is outside [0, ", num_classes_, ")");
}

Dataset Dataset::unlabeled(std::string name, int64_t channels, int64_t height, int64_t width,
                           std::vector<uint8_t> pixels) {
  const int64_t numel = channels * height * width;
  SC_CHECK(numel > 0, "dataset ", name, ": image size must be positive, got ", channels, "x", height, "x", width);
  const auto count = static_cast<size_t>(pixels.size() / static_cast<size_t>(numel));
  Dataset d(std::move(name), channels, height, width, std::move(pixels), std::vector<int64_t>(count, 0), 1);
  d.labeled_ = false;
  return d;
}

Dataset Dataset::with_images(int64_t channels, int64_t height, int64_t width, std::vector<uint8_t> pixels) const {
  Dataset d(name_, channels, height, width, std::move(pixels), labels_, num_classes_);
  d.labeled_ = labeled_;
  return d;
}

void Dataset::check_index(int64_t i) const {
  SC_CHECK(i >= 0 && i < size(), "dataset ", name_, ": index ", i, " is outside [0, ", size(), ")");
}

std::span<const uint8_t> Dataset::image(int64_t i) const {
  check_index(i);
  return {pixels_.data() + i * image_numel(), static_cast<size_t>(image_numel())};
}

int64_t Dataset::label(int64_t i) const {
  check_index(i);
  return labels_[static_cast<size_t>(i)];
}

augment::Image Dataset::float_image(int64_t i) const {
  return augment::Image::from_u8(image(i).data(), channels_, height_, width_);
}

Dataset dataset_head(const Dataset& dataset, int64_t count) {
  if (count <= 0 || count >= dataset.size()) count = dataset.size();
  std::vector<int64_t> indices(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) indices[i] = i;
  return dataset_select(dataset, indices, dataset.name());
}

Dataset dataset_select(const Dataset& dataset, const std::vector<int64_t>& indices, const std::string& name) {
  std::vector<uint8_t> pixels;
  pixels.reserve(indices.size() * static_cast<size_t>(dataset.image_numel()));
  std::vector<int64_t> labels;
  labels.reserve(indices.size());
  for (int64_t i : indices) {
    const auto img = dataset.image(i);  // checks i
    pixels.insert(pixels.end(), img.begin(), img.end());
    labels.push_back(dataset.label(i));
  }
  if (!dataset.labeled())
    return Dataset::unlabeled(name, dataset.channels(), dataset.height(), dataset.width(), std::move(pixels));
  return Dataset(name, dataset.channels(), dataset.height(), dataset.width(), std::move(pixels), std::move(labels),
                 dataset.num_classes());
}

}  // namespace sc::ssl
