#pragma once
// A picture of what the network sees: a PNG grid with one row per image,
//   original | view 1 | view 2
// each cell scaled up with nearest-neighbour so small images stay visible, cells separated
// by a 2-pixel white gap. Used by the CLI's augment-preview command.
#include <cstdint>
#include <string>
#include <vector>

#include "augment/transform.h"

namespace sc::augment {

// The grid's geometry for `rows` images whose cells (originals and views alike) fit in
// cell_size x cell_size source pixels, each shown `scale` times larger.
struct PreviewLayout {
  int64_t cell_size = 0;  // the largest height or width among originals and views
  int64_t scale = 1;      // pixels per source pixel
  int64_t gap = 2;        // pixels between cells
  int64_t rows = 0;
  int64_t width() const { return 3 * cell_size * scale + 2 * gap; }
  int64_t height() const { return rows * cell_size * scale + (rows - 1) * gap; }
};

// Writes the grid to `path` and returns its layout. View v (1 or 2) of image i is
// transform.apply(originals[i], Generator(mix_seed(seed, i, v))). Values are clamped to
// [0, 1] and shown as 0-255. The PNG is gray (1 channel) when every original and view has
// one channel, RGB otherwise (one-channel cells repeated into R, G and B). `scale` 0 picks
// max(1, 128 / cell_size): 4x for 28 and 32 pixel images.
// Throws sc::Error for no images, an image that is neither 1 nor 3 channels, or a path that
// cannot be written (naming the path).
PreviewLayout write_preview_png(const std::string& path, const std::vector<Image>& originals, const Transform& transform, uint64_t seed,
                                int64_t scale = 0);

}  // namespace sc::augment
