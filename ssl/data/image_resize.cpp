#include "ssl/data/image_resize.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"

namespace sc::ssl {

namespace {

// The taps of one axis: output pixel o reads inputs [first[o], first[o] + count[o]) with
// these weights (summing to 1). `offset` is where the kept window starts, in input pixels,
// and `scale` is input pixels per output pixel.
struct AxisTaps {
  std::vector<int64_t> first, count;
  std::vector<std::vector<float>> weights;
};

// PIL's bilinear filter: a triangle of half-width 1 output pixel, stretched to `scale` input
// pixels when shrinking (that stretch is the antialiasing); at scale 1 and offset 0 it
// reads exactly one input pixel per output pixel.
AxisTaps axis_taps(int64_t in_size, int64_t out_size, double offset, double scale) {
  const double stretch = std::max(scale, 1.0);
  const double support = stretch;  // the triangle's half-width, in input pixels
  AxisTaps taps;
  taps.first.resize(out_size);
  taps.count.resize(out_size);
  taps.weights.resize(out_size);
  for (int64_t o = 0; o < out_size; ++o) {
    const double center = offset + (static_cast<double>(o) + 0.5) * scale;
    const int64_t lo = std::max<int64_t>(0, static_cast<int64_t>(std::floor(center - support + 0.5)));
    const int64_t hi = std::min<int64_t>(in_size, static_cast<int64_t>(std::floor(center + support + 0.5)));
    std::vector<float>& w = taps.weights[o];
    double total = 0;
    for (int64_t i = lo; i < hi; ++i) {
      const double t = std::abs((static_cast<double>(i) + 0.5 - center) / stretch);
      const double weight = t < 1.0 ? 1.0 - t : 0.0;
      w.push_back(static_cast<float>(weight));
      total += weight;
    }
    // At least one tap always has weight: the input pixel under the center is within half
    // a pixel of it. Normalising keeps flat areas flat at the borders.
    for (float& x : w) x = static_cast<float>(x / total);
    taps.first[o] = lo;
    taps.count[o] = hi - lo;
  }
  return taps;
}

}  // namespace

std::vector<uint8_t> resize_shorter_side_center_crop(std::span<const uint8_t> chw, int64_t channels, int64_t height,
                                                     int64_t width, int64_t size) {
  SC_CHECK(channels > 0 && height > 0 && width > 0 && size > 0, "resize: sizes must be positive, got ", channels, "x",
           height, "x", width, " to ", size);
  SC_CHECK(static_cast<int64_t>(chw.size()) == channels * height * width, "resize: ", chw.size(),
           " bytes for a ", channels, "x", height, "x", width, " image");
  if (height == size && width == size) return std::vector<uint8_t>(chw.begin(), chw.end());
  // The shorter side maps onto `size` pixels; the longer one keeps its middle part.
  const double scale = static_cast<double>(std::min(height, width)) / static_cast<double>(size);
  const double top = (static_cast<double>(height) - scale * static_cast<double>(size)) / 2.0;
  const double left = (static_cast<double>(width) - scale * static_cast<double>(size)) / 2.0;
  const AxisTaps rows = axis_taps(height, size, top, scale);
  const AxisTaps cols = axis_taps(width, size, left, scale);
  std::vector<uint8_t> out(static_cast<size_t>(channels * size * size));
  std::vector<float> row_pass(static_cast<size_t>(height * size));  // one channel, columns done
  for (int64_t c = 0; c < channels; ++c) {
    const uint8_t* plane = chw.data() + c * height * width;
    for (int64_t y = 0; y < height; ++y)
      for (int64_t x = 0; x < size; ++x) {
        float sum = 0;
        for (int64_t k = 0; k < cols.count[x]; ++k) sum += cols.weights[x][k] * plane[y * width + cols.first[x] + k];
        row_pass[y * size + x] = sum;
      }
    for (int64_t y = 0; y < size; ++y)
      for (int64_t x = 0; x < size; ++x) {
        float sum = 0;
        for (int64_t k = 0; k < rows.count[y]; ++k) sum += rows.weights[y][k] * row_pass[(rows.first[y] + k) * size + x];
        out[(c * size + y) * size + x] = static_cast<uint8_t>(std::clamp(std::lround(sum), 0L, 255L));
      }
  }
  return out;
}

std::vector<uint8_t> convert_channels_chw(std::span<const uint8_t> chw, int64_t from, int64_t to, int64_t plane) {
  SC_CHECK((from == 1 || from == 3) && (to == 1 || to == 3), "convert_channels: channels must be 1 or 3, got ", from,
           " to ", to);
  SC_CHECK(static_cast<int64_t>(chw.size()) == from * plane, "convert_channels: ", chw.size(), " bytes for ", from,
           " planes of ", plane);
  if (from == to) return std::vector<uint8_t>(chw.begin(), chw.end());
  std::vector<uint8_t> out(static_cast<size_t>(to * plane));
  for (int64_t p = 0; p < plane; ++p) {
    if (to == 3) {
      for (int64_t c = 0; c < 3; ++c) out[c * plane + p] = chw[p];
    } else {
      out[p] = static_cast<uint8_t>((chw[p] * 77 + chw[plane + p] * 150 + chw[2 * plane + p] * 29) >> 8);
    }
  }
  return out;
}

Dataset conform_dataset(const Dataset& dataset, int64_t channels, int64_t image_size) {
  const int64_t to_channels = channels > 0 ? channels : dataset.channels();
  const int64_t to_height = image_size > 0 ? image_size : dataset.height();
  const int64_t to_width = image_size > 0 ? image_size : dataset.width();
  if (to_channels == dataset.channels() && to_height == dataset.height() && to_width == dataset.width()) return dataset;
  std::vector<uint8_t> pixels;
  pixels.reserve(static_cast<size_t>(dataset.size() * to_channels * to_height * to_width));
  const int64_t plane = dataset.height() * dataset.width();
  for (int64_t i = 0; i < dataset.size(); ++i) {
    std::vector<uint8_t> image = convert_channels_chw(dataset.image(i), dataset.channels(), to_channels, plane);
    if (image_size > 0)
      image = resize_shorter_side_center_crop(image, to_channels, dataset.height(), dataset.width(), image_size);
    pixels.insert(pixels.end(), image.begin(), image.end());
  }
  return dataset.with_images(to_channels, to_height, to_width, std::move(pixels));
}

}  // namespace sc::ssl
