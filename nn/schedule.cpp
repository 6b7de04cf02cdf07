#include "nn/schedule.h"

#include <cmath>
#include <numbers>

#include "base/error.h"
#include "nn/optimizer.h"

namespace sc::nn {

WarmupCosineSchedule::WarmupCosineSchedule(int64_t warmup_steps, int64_t total_steps, double final_fraction)
    : warmup_steps_(warmup_steps), total_steps_(total_steps), final_fraction_(final_fraction) {
  SC_CHECK(warmup_steps >= 0, "WarmupCosineSchedule: warmup_steps must be >= 0, got ", warmup_steps);
  SC_CHECK(total_steps >= 1, "WarmupCosineSchedule: total_steps must be >= 1, got ", total_steps);
  SC_CHECK(total_steps >= warmup_steps, "WarmupCosineSchedule: total_steps (", total_steps,
           ") must be >= warmup_steps (", warmup_steps, ")");
  SC_CHECK(std::isfinite(final_fraction) && final_fraction >= 0 && final_fraction <= 1,
           "WarmupCosineSchedule: final_fraction must be in [0, 1], got ", final_fraction);
}

double WarmupCosineSchedule::factor(int64_t step) const {
  SC_CHECK(step >= 0, "WarmupCosineSchedule: step must be >= 0, got ", step);
  if (step < warmup_steps_) return static_cast<double>(step + 1) / static_cast<double>(warmup_steps_);
  if (step >= total_steps_) return final_fraction_;
  const double progress =
      static_cast<double>(step - warmup_steps_) / static_cast<double>(total_steps_ - warmup_steps_);
  return final_fraction_ + (1 - final_fraction_) * 0.5 * (1 + std::cos(std::numbers::pi * progress));
}

void WarmupCosineSchedule::apply(Optimizer& optimizer, int64_t step) const {
  const double f = factor(step);
  for (size_t g = 0; g < optimizer.num_groups(); ++g) optimizer.set_lr(g, optimizer.base_lr(g) * f);
}

}  // namespace sc::nn
