#pragma once
// The augmentation op: runs per-view plans (kernels/augment.h) on a batch of uint8 images, on
// the CPU or the GPU. augment/ draws the plans (augment/plan.h) and runs its single-image
// transforms through the CPU functions below, so the layers stay in order:
// augment/ -> core/ -> kernels/.
#include <cstdint>
#include <span>
#include <string>

#include "base/device.h"
#include "core/tensor.h"
#include "kernels/augment.h"

namespace sc {

using kernels::AugmentPlan;
using kernels::AugmentStep;
using kernels::AugmentStepKind;
using kernels::BlendWith;

// The views [V, C, out_height, out_width] (float32, on `device`) of V = plans.size() plans
// over `images`: image_count uint8 CHW images of channels x height x width, back to back
// (image i at images[i * C * H * W]). Every plan must state that image shape and the same
// output size; each is checked (sc::Error naming the view and the step) before any work.
// On the GPU the images and plans are copied over first, one block makes each view
// (kernels/cuda/augment.cu); the CPU runner is its reference (kernels/cpu/augment.cpp).
Tensor augment_views(std::span<const uint8_t> images, int64_t image_count, int64_t channels, int64_t height, int64_t width,
                     std::span<const AugmentPlan> plans, Device device);

// The CPU runner's single-image pieces, on raw float CHW buffers (augment/ wraps them in Image):
// one step (checked first: sc::Error "<where> <index> (Kind): what is wrong"), a blur of any
// kernel size, a rotation with any number of fill values. See kernels/augment.h.
void augment_step_cpu(const AugmentStep& step, const float* in, int64_t channels, int64_t height, int64_t width, float* out,
                      const char* where, int64_t index);
void blur_image_cpu(const float* in, int64_t channels, int64_t height, int64_t width, const float* taps, int64_t kernel_size,
                    float* out);
void rotate_image_cpu(const float* in, int64_t channels, int64_t height, int64_t width, float cos_a, float sin_a,
                      const float* fill, bool fill_per_channel, float* out);

}  // namespace sc
