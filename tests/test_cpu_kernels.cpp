// The fast CPU kernels against their readable references (kernels/cpu/*, namespace
// cpu::reference), called directly on random, never-zero inputs with poisoned outputs.
// Shapes include runs shorter than a vector, ragged tails and a single value per run.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/batch_norm.h"

namespace {

using namespace sc::kernels;

template <typename T>
std::vector<T> random_values(size_t n, std::mt19937& rng, double offset, double scale) {
  std::normal_distribution<double> normal(offset, scale);
  std::vector<T> v(n);
  for (auto& x : v) {
    x = static_cast<T>(normal(rng));
    if (x == T(0)) x = T(0.5);
  }
  return v;
}

template <typename T>
std::vector<T> poisoned(size_t n) {
  return std::vector<T>(n, std::numeric_limits<T>::quiet_NaN());
}

// |a - b| <= atol + rtol * |b| for every element (b is the reference).
template <typename T>
void check_close(const std::vector<T>& fast, const std::vector<T>& ref, double rtol, double atol, const char* what) {
  REQUIRE(fast.size() == ref.size());
  size_t bad = 0, first_bad = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double a = fast[i], b = ref[i];
    if (!(std::abs(a - b) <= atol + rtol * std::abs(b))) {
      if (bad == 0) first_bad = i;
      ++bad;
    }
  }
  INFO(what, ": first mismatch at ", first_bad, ": fast ", double(fast[first_bad]), " reference ",
       double(ref[first_bad]));
  CHECK(bad == 0);
}

struct BnShape {
  int64_t N, C, HW;
};

template <typename T>
void compare_batch_norm(const BnShape& s, bool affine, double rtol, double atol) {
  CAPTURE(s.N);
  CAPTURE(s.C);
  CAPTURE(s.HW);
  CAPTURE(affine);
  std::mt19937 rng(static_cast<unsigned>(s.N * 131 + s.C * 17 + s.HW));
  const size_t n = static_cast<size_t>(s.N * s.C * s.HW), c = static_cast<size_t>(s.C);
  // An offset mean: the centred sums must not lose it to cancellation.
  const auto x = random_values<T>(n, rng, 3.0, 2.0);
  const auto dy = random_values<T>(n, rng, 0.5, 1.0);
  const auto gamma = random_values<T>(c, rng, 1.0, 0.3);
  const auto beta = random_values<T>(c, rng, 0.0, 0.3);
  const T* g = affine ? gamma.data() : nullptr;
  const T* b = affine ? beta.data() : nullptr;
  const double eps = 1e-5, momentum = 0.1;

  // Training forward, running statistics included.
  auto y_fast = poisoned<T>(n), y_ref = poisoned<T>(n);
  auto mean_fast = poisoned<T>(c), mean_ref = poisoned<T>(c), inv_fast = poisoned<T>(c), inv_ref = poisoned<T>(c);
  auto rm_fast = random_values<T>(c, rng, 0.2, 0.1), rv_fast = random_values<T>(c, rng, 1.5, 0.1);
  auto rm_ref = rm_fast, rv_ref = rv_fast;
  cpu::batch_norm_forward_train<T>(x.data(), s.N, s.C, s.HW, g, b, eps, momentum, y_fast.data(), mean_fast.data(),
                                   inv_fast.data(), rm_fast.data(), rv_fast.data());
  cpu::reference::batch_norm_forward_train<T>(x.data(), s.N, s.C, s.HW, g, b, eps, momentum, y_ref.data(),
                                              mean_ref.data(), inv_ref.data(), rm_ref.data(), rv_ref.data());
  check_close(y_fast, y_ref, rtol, atol, "train y");
  check_close(mean_fast, mean_ref, rtol, atol, "save_mean");
  check_close(inv_fast, inv_ref, rtol, atol, "save_invstd");
  check_close(rm_fast, rm_ref, rtol, atol, "running_mean");
  check_close(rv_fast, rv_ref, rtol, atol, "running_var");

  // Evaluation forward from the (updated) running statistics.
  auto ye_fast = poisoned<T>(n), ye_ref = poisoned<T>(n);
  cpu::batch_norm_forward_eval<T>(x.data(), s.N, s.C, s.HW, g, b, rm_ref.data(), rv_ref.data(), eps, ye_fast.data(),
                                  mean_fast.data(), inv_fast.data());
  cpu::reference::batch_norm_forward_eval<T>(x.data(), s.N, s.C, s.HW, g, b, rm_ref.data(), rv_ref.data(), eps,
                                             ye_ref.data(), mean_ref.data(), inv_ref.data());
  check_close(ye_fast, ye_ref, rtol, atol, "eval y");

  // Backward, both modes, from the reference's saved statistics.
  for (const bool training : {true, false}) {
    CAPTURE(training);
    auto dx_fast = poisoned<T>(n), dx_ref = poisoned<T>(n);
    auto dg_fast = poisoned<T>(c), dg_ref = poisoned<T>(c), db_fast = poisoned<T>(c), db_ref = poisoned<T>(c);
    cpu::batch_norm_backward<T>(x.data(), dy.data(), s.N, s.C, s.HW, g, mean_ref.data(), inv_ref.data(), training,
                                dx_fast.data(), dg_fast.data(), db_fast.data());
    cpu::reference::batch_norm_backward<T>(x.data(), dy.data(), s.N, s.C, s.HW, g, mean_ref.data(), inv_ref.data(),
                                           training, dx_ref.data(), dg_ref.data(), db_ref.data());
    // dx sums M terms: its error grows with the sums, so it is compared with the sums' scale.
    check_close(dx_fast, dx_ref, rtol, atol, "dx");
    check_close(dg_fast, dg_ref, rtol, atol * static_cast<double>(s.N * s.HW), "dgamma");
    check_close(db_fast, db_ref, rtol, atol * static_cast<double>(s.N * s.HW), "dbeta");
  }
}

// The fused batch_norm_relu kernels against the reference batch norm followed by a ReLU
// (forward) and by the ReLU's backward (dy masked where the output is not positive). The fused
// backward is given x and the forward's per-channel coefficients, not y: the mask it recomputes
// must be exactly the forward's.
template <typename T>
void compare_batch_norm_relu(const BnShape& s, bool training, double rtol, double atol) {
  CAPTURE(s.N);
  CAPTURE(s.C);
  CAPTURE(s.HW);
  CAPTURE(training);
  std::mt19937 rng(static_cast<unsigned>(s.N * 7 + s.C * 5 + s.HW));
  const size_t n = static_cast<size_t>(s.N * s.C * s.HW), c = static_cast<size_t>(s.C);
  const auto x = random_values<T>(n, rng, 1.0, 2.0);
  const auto dy = random_values<T>(n, rng, 0.2, 1.0);
  const auto gamma = random_values<T>(c, rng, 1.0, 0.3), beta = random_values<T>(c, rng, 0.1, 0.3);
  auto rm = random_values<T>(c, rng, 0.2, 0.1), rv = random_values<T>(c, rng, 1.5, 0.1);
  auto rm_ref = rm, rv_ref = rv;

  auto y = poisoned<T>(n), y_ref = poisoned<T>(n);
  auto mean = poisoned<T>(c), invstd = poisoned<T>(c), mean_ref = poisoned<T>(c), invstd_ref = poisoned<T>(c);
  auto relu_scale = poisoned<T>(c), relu_shift = poisoned<T>(c);
  if (training) {
    cpu::batch_norm_relu_forward_train<T>(x.data(), s.N, s.C, s.HW, gamma.data(), beta.data(), 1e-5, 0.1, y.data(),
                                          mean.data(), invstd.data(), rm.data(), rv.data(), relu_scale.data(),
                                          relu_shift.data());
    cpu::reference::batch_norm_forward_train<T>(x.data(), s.N, s.C, s.HW, gamma.data(), beta.data(), 1e-5, 0.1,
                                                y_ref.data(), mean_ref.data(), invstd_ref.data(), rm_ref.data(),
                                                rv_ref.data());
  } else {
    cpu::batch_norm_relu_forward_eval<T>(x.data(), s.N, s.C, s.HW, gamma.data(), beta.data(), rm.data(), rv.data(),
                                         1e-5, y.data(), mean.data(), invstd.data(), relu_scale.data(),
                                         relu_shift.data());
    cpu::reference::batch_norm_forward_eval<T>(x.data(), s.N, s.C, s.HW, gamma.data(), beta.data(), rm.data(),
                                               rv.data(), 1e-5, y_ref.data(), mean_ref.data(), invstd_ref.data());
  }
  size_t clipped = 0;
  for (auto& v : y_ref)
    if (!(v > T(0))) v = T(0), ++clipped;
  CHECK(clipped > n / 10);  // the ReLU really clips: the mask matters below
  CHECK(clipped < n - n / 10);
  check_close(y, y_ref, rtol, atol, "relu(batch norm) forward");
  check_close(rm, rm_ref, rtol, atol, "running_mean");

  // The coefficients reproduce the forward's output bit for bit (the backward's mask).
  size_t reproduced = 0;
  for (size_t i = 0; i < n; ++i) {
    const size_t channel = (i / static_cast<size_t>(s.HW)) % c;
    // volatile: a separate multiply and add, as the kernel's file is built (no FMA contraction)
    const volatile T product = x[i] * relu_scale[channel];
    const T pre = product + relu_shift[channel];
    const T relu = pre > T(0) ? pre : T(0);
    reproduced += std::memcmp(&relu, &y[i], sizeof(T)) == 0;
  }
  CHECK(reproduced == n);

  // The reference backward gets dy already masked by the fused forward's output.
  std::vector<T> dy_masked(n);
  for (size_t i = 0; i < n; ++i) dy_masked[i] = y[i] > T(0) ? dy[i] : T(0);
  auto dx = poisoned<T>(n), dx_ref = poisoned<T>(n);
  auto dg = poisoned<T>(c), dg_ref = poisoned<T>(c), db = poisoned<T>(c), db_ref = poisoned<T>(c);
  cpu::batch_norm_relu_backward<T>(x.data(), relu_scale.data(), relu_shift.data(), dy.data(), s.N, s.C, s.HW,
                                   gamma.data(), mean_ref.data(), invstd_ref.data(), training, dx.data(), dg.data(),
                                   db.data());
  cpu::reference::batch_norm_backward<T>(x.data(), dy_masked.data(), s.N, s.C, s.HW, gamma.data(), mean_ref.data(),
                                         invstd_ref.data(), training, dx_ref.data(), dg_ref.data(), db_ref.data());
  check_close(dx, dx_ref, rtol, atol, "dx");
  check_close(dg, dg_ref, rtol, atol * static_cast<double>(s.N * s.HW), "dgamma");
  check_close(db, db_ref, rtol, atol * static_cast<double>(s.N * s.HW), "dbeta");
}

const BnShape kBnShapes[] = {
    {8, 3, 37},   // ragged tail after two 16-lane blocks
    {5, 4, 16},   // exactly one block
    {3, 2, 7},    // shorter than a block: tails only
    {64, 6, 1},   // [N, C] input (BatchNorm1d): one value per run
    {16, 16, 196}, // an encoder shape (14 x 14)
    // short runs sharing the lanes (RunSums): 7 x 7 runs emptied every 6 runs, 4 x 4 every 16,
    // with a last partial batch of runs emptied at the channel's end
    {37, 5, 49},
    {41, 3, 16},
    {300, 2, 8},  // no full block at all, 300 tails
};

}  // namespace

TEST_CASE("cpu kernels: batch norm (fast) matches the double reference, float32") {
  for (const auto& s : kBnShapes)
    for (const bool affine : {true, false}) compare_batch_norm<float>(s, affine, 2e-5, 2e-5);
}

TEST_CASE("cpu kernels: batch norm (fast) matches the double reference, float64") {
  for (const auto& s : kBnShapes)
    for (const bool affine : {true, false}) compare_batch_norm<double>(s, affine, 1e-12, 1e-12);
}

TEST_CASE("cpu kernels: fused batch norm + ReLU matches the reference pair, float32 and float64") {
  for (const auto& s : kBnShapes) {
    for (const bool training : {true, false}) {
      compare_batch_norm_relu<float>(s, training, 2e-5, 2e-5);
      compare_batch_norm_relu<double>(s, training, 1e-12, 1e-12);
    }
  }
}
