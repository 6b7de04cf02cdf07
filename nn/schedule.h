#pragma once
// Learning-rate schedule: linear warmup, then cosine decay, evaluated once per optimizer
// step (step = 0 for the first update). With W = warmup_steps, T = total_steps and
// f = final_fraction:
//
//   step <  W:        factor = (step + 1) / W                 (reaches 1 on the last warmup step)
//   W <= step < T:    progress = (step - W) / (T - W)          (0 on the first decay step)
//                     factor = f + (1 - f) * 0.5 * (1 + cos(pi * progress))
//   step >= T:        factor = f                              (the floor; the run is over)
//
//   lr(step) = base_lr * factor(step)
//
// Warmup starts at base_lr / W rather than 0 so the first step already moves the weights.
// The floor f is a fraction of base_lr, so one schedule serves groups with different lrs
// (as PyTorch's LambdaLR, which multiplies each group's initial lr by the same factor).
// tests/golden/gen_golden_optim.py mirrors this formula in Python.
#include <cstdint>

namespace sc::nn {

class Optimizer;

class WarmupCosineSchedule {
 public:
  // warmup_steps >= 0, total_steps >= 1 and >= warmup_steps, final_fraction in [0, 1].
  WarmupCosineSchedule(int64_t warmup_steps, int64_t total_steps, double final_fraction = 0.0);

  // The multiplier of the base lr at `step` (>= 0).
  double factor(int64_t step) const;
  double lr(int64_t step, double base_lr) const { return base_lr * factor(step); }
  // Sets every group's lr to its base lr (the lr it was built with) times factor(step).
  // Call it before optimizer.step() for that step.
  void apply(Optimizer& optimizer, int64_t step) const;

  int64_t warmup_steps() const { return warmup_steps_; }
  int64_t total_steps() const { return total_steps_; }
  double final_fraction() const { return final_fraction_; }

 private:
  int64_t warmup_steps_;
  int64_t total_steps_;
  double final_fraction_;
};

}  // namespace sc::nn
