#include "augment/preview.h"

#include <stb_image_write.h>

#include <algorithm>
#include <cmath>

#include "augment/checks.h"

namespace sc::augment {

namespace {

uint8_t to_byte(float v) { return static_cast<uint8_t>(std::lround(std::clamp(v, 0.0f, 1.0f) * 255.0f)); }

// Copies `img` scaled up `scale` times into the canvas at (x0, y0); a one-channel image
// fills every canvas channel.
void paint(std::vector<uint8_t>& canvas, int64_t canvas_width, int64_t canvas_channels, const Image& img, int64_t x0, int64_t y0,
           int64_t scale) {
  for (int64_t y = 0; y < img.height * scale; ++y)
    for (int64_t x = 0; x < img.width * scale; ++x)
      for (int64_t c = 0; c < canvas_channels; ++c) {
        const int64_t src_c = img.channels == 1 ? 0 : c;
        canvas[((y0 + y) * canvas_width + x0 + x) * canvas_channels + c] = to_byte(img.at(src_c, y / scale, x / scale));
      }
}

}  // namespace

PreviewLayout write_preview_png(const std::string& path, const std::vector<Image>& originals, const Transform& transform, uint64_t seed,
                                int64_t scale) {
  SC_CHECK(!originals.empty(), "write_preview_png: no images to show (writing ", path, ")");
  SC_CHECK(scale >= 0, "write_preview_png: scale must be >= 0 (0 picks one), got ", scale);

  // Every row: the original and its two views.
  std::vector<Image> cells;
  for (size_t i = 0; i < originals.size(); ++i) {
    detail::check_image(originals[i], "write_preview_png");
    SC_CHECK(originals[i].channels == 1 || originals[i].channels == 3, "write_preview_png: image ", i, " has ", originals[i].channels,
             " channels; only 1 (gray) or 3 (RGB) can be shown");
    cells.push_back(originals[i]);
    for (uint64_t view = 1; view <= 2; ++view) {
      Generator gen(mix_seed(seed, i, view));
      cells.push_back(transform.apply(originals[i], gen));
    }
  }
  PreviewLayout layout;
  layout.rows = static_cast<int64_t>(originals.size());
  int64_t channels = 1;
  for (size_t k = 0; k < cells.size(); ++k) {
    const Image& cell = cells[k];
    SC_CHECK(cell.channels == 1 || cell.channels == 3, "write_preview_png: ", k % 3 == 0 ? "image " : "a view of image ", k / 3, " has ",
             cell.channels, " channels; only 1 (gray) or 3 (RGB) can be shown");
    layout.cell_size = std::max({layout.cell_size, cell.height, cell.width});
    channels = std::max(channels, cell.channels);
  }
  layout.scale = scale > 0 ? scale : std::max<int64_t>(1, 128 / layout.cell_size);
  SC_CHECK(layout.width() <= 16384 && layout.height() <= 65536, "write_preview_png: the grid would be ", layout.width(), "x",
           layout.height(), " pixels; show fewer or smaller images (writing ", path, ")");

  std::vector<uint8_t> canvas(static_cast<size_t>(layout.width() * layout.height() * channels), 255);  // white gaps
  const int64_t pitch = layout.cell_size * layout.scale + layout.gap;
  for (size_t k = 0; k < cells.size(); ++k) {
    const Image& cell = cells[k];
    // Centered in its cell when smaller than the largest image.
    const int64_t x0 = static_cast<int64_t>(k % 3) * pitch + (layout.cell_size - cell.width) * layout.scale / 2;
    const int64_t y0 = static_cast<int64_t>(k / 3) * pitch + (layout.cell_size - cell.height) * layout.scale / 2;
    paint(canvas, layout.width(), channels, cell, x0, y0, layout.scale);
  }
  const int ok = stbi_write_png(path.c_str(), static_cast<int>(layout.width()), static_cast<int>(layout.height()), static_cast<int>(channels),
                                canvas.data(), static_cast<int>(layout.width() * channels));
  SC_CHECK(ok != 0, "write_preview_png: could not write the PNG file '", path, "' (does its folder exist and is it writable?)");
  return layout;
}

}  // namespace sc::augment
