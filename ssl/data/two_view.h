#pragma once
// Turning dataset images into the float batches the model takes.
//
// Two-view batch of B images (SimCLR's input): one float32 tensor [2B, C, H, W]:
//   rows 0 .. B-1   the first view  of images indices[0] .. indices[B-1]
//   rows B .. 2B-1  the second view of the same images, in the same order
// so row i's positive is row (i + B) mod 2B, the pairing nt_xent (core/ops.h) expects.
//
// Seeding: view v (0 or 1) of dataset sample i in epoch e is made with
//   Generator gen(view_seed(seed, e, i, v)),   view_seed = mix_seed(seed, e, 2 * i + v)
// so a view depends only on (seed, epoch, sample index, view): not on the batch it lands
// in, its position in the batch, the batch size or the number of worker threads.
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "augment/transform.h"
#include "core/augment.h"
#include "core/tensor.h"
#include "ssl/data/dataset.h"

namespace sc::ssl {

// The CPU half of augmentation on the GPU: a two-view batch's B source images as they are
// stored (uint8) and the drawn plan of each of its 2B views, in the rows of the two-view
// batch (plans[v * B + j] is view v of image j, its source j). run() makes the views
// [2B, C, h, w] on a device: the same views make_two_view_batch makes (core/augment.h).
struct ViewPlans {
  std::vector<uint8_t> images;  // B images of channels x height x width, back to back
  int64_t count = 0, channels = 0, height = 0, width = 0;
  std::vector<AugmentPlan> plans;

  Tensor run(Device device) const;
};

struct Batch {
  Tensor images;                 // float32 [2B, C, H, W] (two-view) or [B, C, H, W] (plain);
                                 // undefined when the views are still plans
  Tensor labels;                 // int64 [B]: for evaluation only, SimCLR training never reads them
  std::vector<int64_t> indices;  // the B dataset indices, in row order
  int64_t epoch = 0;
  int64_t index = 0;             // which batch of its epoch this is
  std::optional<ViewPlans> plans;  // LoaderOptions::draw_plans: the views as plans, for the GPU
};

uint64_t view_seed(uint64_t seed, int64_t epoch, int64_t sample_index, int view);

// `transform` must be thread-safe (Transform::apply is const and keeps no state). Every
// view must come out with the same shape; throws sc::Error naming the transform otherwise.
// pinned: the images go into page-locked memory (empty_pinned), for a batch headed to the GPU.
Batch make_two_view_batch(const Dataset& dataset, std::span<const int64_t> indices, const augment::Transform& transform,
                          uint64_t seed, int64_t epoch, bool pinned = false);

// The same batch with its views as plans (Batch::plans; images stays undefined): every view's
// random draws, from the same generators, and the source images. The transform must have a
// plan form (augment/plan.h); every view must come out with the same shape. Throws sc::Error
// naming the transform.
Batch make_two_view_plans(const Dataset& dataset, std::span<const int64_t> indices, const augment::Transform& transform,
                              uint64_t seed, int64_t epoch);

// Plain batch [B, C, H, W]: the images as float in [0, 1], no augmentation (evaluation,
// feature extraction).
Batch make_plain_batch(const Dataset& dataset, std::span<const int64_t> indices, bool pinned = false);

}  // namespace sc::ssl
