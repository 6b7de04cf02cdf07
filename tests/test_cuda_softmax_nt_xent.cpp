// The CUDA softmax family (kernels/cuda/softmax.cu) and the fused NT-Xent
// (kernels/cuda/nt_xent.cu) against the CPU reference: through the ops on tensors copied
// to the GPU, and for NT-Xent also through the kernel API directly. Inputs are drawn on the
// CPU, so both devices see the same values, and CUDA allocations are poisoned (NaN) while a
// test runs, so an output element a kernel leaves unwritten fails its comparison.
//
// Tolerances: |cuda - cpu| <= atol + rtol * |cpu|. float32 (the CPU sums in double, the GPU
// sums a row in float and takes exp in float):
//   softmax forward            atol 1e-7, rtol 1e-5  (probabilities to a few 1e-7 relative)
//   log_softmax forward        atol 1e-5, rtol 1e-5  (x - max of size ~30 is rounded to ~2e-6)
//   softmax/log_softmax bwd    atol 1e-5 * max(1, max|dx|), rtol 1e-4 (a float dot product per row)
//   cross_entropy              loss atol 1e-5, rtol 1e-5; dlogits atol 1e-5 * max|dlogits|, rtol 1e-4
//   nt_xent loss               atol 1e-5, rtol 1e-5: |S| <= 1/t = 10 is rounded to ~1e-6 on both
//                              devices (different summation orders), and lse_i - S_i,pos inherits that.
//   nt_xent gradients          atol 5e-5 * max|grad|, rtol 1e-4: each dzn_i is a float sum of 2N
//                              terms W_ik zn_k whose P's carry the ~1e-6 of S; elements that are
//                              small by cancellation (here and in normalize's backward) need the
//                              absolute part, scaled to the tensor.
// float64: atol 1e-12 (scaled the same way), rtol 1e-10: only summation order differs.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/cuda_backend.h"
#include "kernels/nt_xent.h"
#include "kernels/softmax.h"
#include "tests/cuda_test_util.h"

using namespace sc;
using namespace sc::test;

namespace {

Tensor gpu(const Tensor& t) { return t.to(Device::CUDA); }

void check_close(const Tensor& cuda, const Tensor& cpu, double atol, double rtol, const std::string& what) {
  INFO(what);
  REQUIRE(cuda.defined());
  REQUIRE(cpu.defined());
  CHECK(cuda.device() == Device::CUDA);
  CHECK(cuda.dtype() == cpu.dtype());
  REQUIRE(cuda.shape() == cpu.shape());
  const double ratio = cuda_worst_ratio(cuda, cpu, atol, rtol);
  CHECK_MESSAGE(ratio <= 1.0, what, ": worst |cuda - cpu| / tolerance = ", ratio);
}

bool is_f32(DType dt) { return dt == DType::Float32; }

// The scale of NT-Xent's gradient for the absolute tolerance: its largest element, but never
// less than the size of one term of its sum, 1 / (rows * t). With 2N = 2 the true gradient is
// exactly 0 (the only other row is the positive), so the largest element says nothing about the
// rounding of the terms that cancel to give it.
double nt_xent_grad_scale(const Tensor& cpu_grad, int64_t rows, double temperature) {
  return std::max(max_abs(cpu_grad), 1.0 / (static_cast<double>(rows) * temperature));
}

std::string label(const std::string& op, const Shape& shape, int64_t dim, DType dt) {
  return op + " " + shape_str(shape) + " dim " + std::to_string(dim) + " " + (is_f32(dt) ? "f32" : "f64");
}

// Output and input gradient of a softmax-like op on one device, for input x and upstream dy (both CPU tensors).
struct SoftmaxRun {
  Tensor y, dx;
};
SoftmaxRun run_softmax(bool log, const Tensor& x, const Tensor& dy, int64_t dim, Device device) {
  Tensor input = x.detach().to(device);  // a fresh leaf on either device (x itself stays untouched)
  input.requires_grad_(true);
  SoftmaxRun r;
  r.y = log ? log_softmax(input, dim) : softmax(input, dim);
  r.y.backward(dy.to(device));
  r.dx = input.grad();
  return r;
}

void check_softmax_case(bool log, const Shape& shape, int64_t dim, DType dt, Generator& gen, double scale = 3.0) {
  const std::string what = label(log ? "log_softmax" : "softmax", shape, dim, dt);
  const Tensor x = mul(randn(shape, gen, DType::Float64), scale).to(dt);
  const Tensor dy = randn(shape, gen, dt);
  const SoftmaxRun cpu = run_softmax(log, x, dy, dim, Device::CPU);
  const SoftmaxRun cuda = run_softmax(log, x, dy, dim, Device::CUDA);
  const double y_atol = is_f32(dt) ? (log ? 1e-5 : 1e-7) : 1e-12;
  const double y_rtol = is_f32(dt) ? 1e-5 : 1e-10;
  check_close(cuda.y, cpu.y, y_atol, y_rtol, what + ": forward");
  const double dx_scale = std::max(1.0, max_abs(cpu.dx));
  check_close(cuda.dx, cpu.dx, (is_f32(dt) ? 1e-5 : 1e-12) * dx_scale, is_f32(dt) ? 1e-4 : 1e-10, what + ": backward");
}

// Random class indices in [0, classes).
Tensor random_targets(int64_t rows, int64_t classes, Generator& gen) {
  const std::vector<double> u = rand({rows}, gen, DType::Float64).to_vector<double>();
  std::vector<int64_t> t;
  for (double v : u) t.push_back(std::min<int64_t>(classes - 1, static_cast<int64_t>(v * static_cast<double>(classes))));
  return from_vector(t, {rows});
}

struct LossRun {
  Tensor loss, grad;
};
LossRun run_cross_entropy(const Tensor& logits, const Tensor& targets, double grad_loss, Device device) {
  Tensor input = logits.detach().to(device);
  input.requires_grad_(true);
  LossRun r;
  r.loss = cross_entropy(input, targets.to(device));
  r.loss.backward(full({}, grad_loss, logits.dtype(), device));
  r.grad = input.grad();
  return r;
}

void check_cross_entropy_case(int64_t rows, int64_t classes, DType dt, Generator& gen, double scale = 3.0) {
  const std::string what = "cross_entropy [" + std::to_string(rows) + ", " + std::to_string(classes) + "] " +
                           (is_f32(dt) ? "f32" : "f64");
  const Tensor logits = mul(randn({rows, classes}, gen, DType::Float64), scale).to(dt);
  const Tensor targets = random_targets(rows, classes, gen);
  const LossRun cpu = run_cross_entropy(logits, targets, 0.75, Device::CPU);
  const LossRun cuda = run_cross_entropy(logits, targets, 0.75, Device::CUDA);
  check_close(cuda.loss, cpu.loss, is_f32(dt) ? 1e-5 : 1e-12, is_f32(dt) ? 1e-5 : 1e-10, what + ": loss");
  check_close(cuda.grad, cpu.grad, (is_f32(dt) ? 1e-5 : 1e-12) * max_abs(cpu.grad), is_f32(dt) ? 1e-4 : 1e-10,
              what + ": dlogits");
}

// nt_xent through the op (normalize + the fused loss) on one device: the loss and dL/dz.
LossRun run_nt_xent(const Tensor& z, double temperature, Device device) {
  Tensor input = z.detach().to(device);
  input.requires_grad_(true);
  LossRun r;
  r.loss = nt_xent(input, temperature);
  r.loss.backward();
  r.grad = input.grad();
  return r;
}

void check_nt_xent_case(int64_t rows, int64_t d, double temperature, DType dt, Generator& gen) {
  const std::string what = "nt_xent 2N=" + std::to_string(rows) + " d=" + std::to_string(d) +
                           " t=" + std::to_string(temperature) + (is_f32(dt) ? " f32" : " f64");
  const Tensor z = randn({rows, d}, gen, dt);
  const LossRun cpu = run_nt_xent(z, temperature, Device::CPU);
  const LossRun cuda = run_nt_xent(z, temperature, Device::CUDA);
  check_close(cuda.loss, cpu.loss, is_f32(dt) ? 1e-5 : 1e-12, is_f32(dt) ? 1e-5 : 1e-10, what + ": loss");
  check_close(cuda.grad, cpu.grad, (is_f32(dt) ? 5e-5 : 1e-11) * nt_xent_grad_scale(cpu.grad, rows, temperature),
              is_f32(dt) ? 1e-4 : 1e-9,
              what + ": dz");
}

#ifdef SC_WITH_CUDA
// The fused kernels called directly on a CUDA copy of zn = normalize(z), with every output
// freshly allocated (so poisoned), against kernels::cpu on the same zn.
template <typename T>
void check_nt_xent_kernels(int64_t rows, int64_t d, double temperature, Generator& gen) {
  const DType dt = dtype_of<T>::value;
  const std::string what = "nt_xent kernels 2N=" + std::to_string(rows) + " d=" + std::to_string(d);
  const double inv_t = 1.0 / temperature;
  const Tensor zn = normalize(randn({rows, d}, gen, dt), 1);
  const Tensor grad_loss = full({}, 0.7, dt);

  Tensor sim = empty({rows, rows}, dt), workspace = empty({rows, rows}, dt);
  Tensor cpu_max = empty({rows}, dt), cpu_log_sum = empty({rows}, dt), cpu_loss = empty({}, dt);
  Tensor cpu_dzn = empty({rows, d}, dt);
  kernels::cpu::nt_xent_forward<T>(zn.data<T>(), rows, d, inv_t, sim.data<T>(), cpu_max.data<T>(),
                                   cpu_log_sum.data<T>(), cpu_loss.data<T>());
  kernels::cpu::nt_xent_backward<T>(zn.data<T>(), sim.data<T>(), cpu_max.data<T>(), cpu_log_sum.data<T>(), rows, d,
                                    inv_t, grad_loss.data<T>(), workspace.data<T>(), cpu_dzn.data<T>());

  const Tensor zn_gpu = gpu(zn), grad_loss_gpu = gpu(grad_loss);
  Tensor row_max = empty({rows}, dt, Device::CUDA), row_log_sum = empty({rows}, dt, Device::CUDA);
  Tensor loss = empty({}, dt, Device::CUDA), dzn = empty({rows, d}, dt, Device::CUDA);
  kernels::cuda::nt_xent_forward<T>(zn_gpu.data<T>(), rows, d, inv_t, row_max.data<T>(), row_log_sum.data<T>(),
                                    loss.data<T>());
  kernels::cuda::nt_xent_backward<T>(zn_gpu.data<T>(), row_max.data<T>(), row_log_sum.data<T>(), rows, d, inv_t,
                                     grad_loss_gpu.data<T>(), dzn.data<T>());
  const bool f32 = is_f32(dt);
  // row_max is one of the S values (|S| <= 1/t); row_log_sum <= log(2N).
  check_close(row_max, cpu_max, f32 ? 1e-5 : 1e-12, f32 ? 1e-5 : 1e-10, what + ": row_max");
  check_close(row_log_sum, cpu_log_sum, f32 ? 1e-5 : 1e-12, f32 ? 1e-5 : 1e-10, what + ": row_log_sum");
  check_close(loss, cpu_loss, f32 ? 1e-5 : 1e-12, f32 ? 1e-5 : 1e-10, what + ": loss");
  check_close(dzn, cpu_dzn, (f32 ? 5e-5 : 1e-11) * nt_xent_grad_scale(cpu_dzn, rows, temperature), f32 ? 1e-4 : 1e-9,
              what + ": dzn");
}
#endif

}  // namespace

// ---- softmax / log_softmax ---------------------------------------------------------------------

TEST_CASE("cuda: softmax: softmax and log_softmax match the CPU over dims 0, 1 and last, forward and backward") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(11);
  // Row lengths on both sides of every kernel boundary: registers (<= 128, 256, 512, 1024
  // values per warp; vectors when the length is a multiple of 4), blocks per row (> 1024 float,
  // > 512 double), and columns (inner > 1).
  const std::vector<Shape> shapes = {{1, 1},     {7, 33},     {33, 7},      {127, 1},   {5, 128},
                                     {4, 129},   {3, 1000},   {2, 1024},    {2, 1025},  {3, 2000},
                                     {1000, 3},  {4, 7, 33},  {3, 130, 5},  {2, 3, 1100}};
  for (DType dt : {DType::Float32, DType::Float64})
    for (const Shape& shape : shapes)
      for (int64_t dim : {int64_t{0}, int64_t{1}, int64_t{-1}})
        for (bool log : {false, true}) check_softmax_case(log, shape, dim, dt, gen);
}

TEST_CASE("cuda: softmax: large logits (1000, 1001) do not overflow") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  const Tensor x = from_vector(std::vector<double>{1000, 1001, 1001, 1000, -1000, -1001}, {3, 2});
  const double e = std::exp(1.0);
  for (DType dt : {DType::Float32, DType::Float64}) {
    const Tensor xt = x.to(dt);
    const std::vector<double> p = softmax(gpu(xt), 1).to(Device::CPU).to(DType::Float64).to_vector<double>();
    const std::vector<double> expected = {1 / (1 + e), e / (1 + e), e / (1 + e), 1 / (1 + e), e / (1 + e), 1 / (1 + e)};
    for (size_t i = 0; i < p.size(); ++i) CHECK(std::abs(p[i] - expected[i]) <= 1e-6);
    check_close(log_softmax(gpu(xt), 1), log_softmax(xt, 1), 1e-5, 1e-6, "log_softmax of large logits");
    check_close(softmax(gpu(xt), 0), softmax(xt, 0), 1e-7, 1e-5, "softmax of large logits over dim 0 (columns)");
  }
  // The same in long rows (one block per row) and in columns, around 1000.
  Generator gen(5);
  for (const Shape& shape : {Shape{2, 3000}, Shape{3, 50, 4}}) {
    const Tensor big = add(randn(shape, gen), 1000.0);
    check_close(softmax(gpu(big), 1), softmax(big, 1), 1e-7, 1e-5, "softmax of large logits " + shape_str(shape));
    check_close(log_softmax(gpu(big), 1), log_softmax(big, 1), 1e-5, 1e-5,
                "log_softmax of large logits " + shape_str(shape));
  }
}

// ---- cross_entropy -------------------------------------------------------------------------------

TEST_CASE("cuda: softmax: cross_entropy matches the CPU, forward and backward") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(21);
  // A warp per row up to 2048 classes, a block per row beyond.
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{1, 1},   {7, 10},    {33, 1000}, {1000, 7},
                                                           {5, 2048}, {3, 2049}, {4, 5000}};
  for (DType dt : {DType::Float32, DType::Float64})
    for (const auto& [rows, classes] : shapes) check_cross_entropy_case(rows, classes, dt, gen);
}

TEST_CASE("cuda: softmax: cross_entropy of large logits, determinism, and bad targets") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  // loss = log(1 + e) for logits (1000, 1001) and target 1 ... 0: lse - 1000 = log(1 + e).
  const Tensor logits = from_vector(std::vector<float>{1000, 1001, 1001, 1000}, {2, 2});
  const Tensor targets = from_vector(std::vector<int64_t>{0, 1}, {2});
  const double expected = std::log(1 + std::exp(1.0));
  CHECK(std::abs(cross_entropy(gpu(logits), gpu(targets)).item() - expected) <= 1e-5);

  // The same loss bits on every run (per-row losses summed by one block in a fixed order).
  Generator gen(3);
  const Tensor x = gpu(randn({1000, 37}, gen));
  const Tensor t = gpu(random_targets(1000, 37, gen));
  CHECK(bitwise_equal(cross_entropy(x, t), cross_entropy(x, t)));

  // A target outside [0, C) is caught on the host before any kernel reads with it.
  for (int64_t bad : {int64_t{-1}, int64_t{37}}) {
    std::vector<int64_t> labels(1000, 0);
    labels[500] = bad;
    CHECK_THROWS_AS(cross_entropy(x, gpu(from_vector(labels, {1000}))), Error);
  }
}

TEST_CASE("cuda: softmax: cross_entropy with the row in registers, at every size boundary") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(22);
  // Rows of up to 1024 floats (512 doubles) are held in a warp's registers: 4, 8, 16 or 32
  // values per lane, as 16-byte vectors when classes is a multiple of 4 floats (2 doubles).
  // Each size sits on or just past a boundary; 1025 floats (513 doubles) fall back to the
  // online warp-per-row kernel. 65 rows: more rows than one block's 8 warps, not a multiple.
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{65, 1024}, {9, 1023}, {17, 512}, {3, 513}, {5, 1025},
                                                           {2, 4},     {40, 128}, {6, 129},  {11, 256}, {4, 257},
                                                           {300, 2}};
  for (DType dt : {DType::Float32, DType::Float64})
    for (const auto& [rows, classes] : shapes) check_cross_entropy_case(rows, classes, dt, gen);
  // The bench's shape at a smaller batch: same bits on every run.
  const Tensor x = gpu(randn({512, 1024}, gen));
  const Tensor t = gpu(random_targets(512, 1024, gen));
  CHECK(bitwise_equal(cross_entropy(x, t), cross_entropy(x, t)));
}

// ---- nt_xent ---------------------------------------------------------------------------------------

TEST_CASE("cuda: nt_xent: nt_xent matches the CPU op, loss and gradient") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(2024);
  // 2N not a multiple of the 64-row tile (2, 6, 66, 130); d below, at and just past the 128-float
  // chunk (130: two chunks, the second 2 wide).
  for (int64_t rows : {2, 6, 66, 130, 512})
    for (int64_t d : {3, 17, 128, 130})
      for (double temperature : {0.5, 0.1}) check_nt_xent_case(rows, d, temperature, DType::Float32, gen);
  // 2048 rows: each block walks several column tiles (the online max / sum across tiles, and
  // the backward's accumulation over them). 512 x 3072: many chunks of d, and enough
  // (row tile, chunk) blocks that the backward's columns are not split.
  check_nt_xent_case(2048, 128, 0.1, DType::Float32, gen);
  check_nt_xent_case(2048, 17, 0.5, DType::Float32, gen);
  check_nt_xent_case(512, 3072, 0.5, DType::Float32, gen);
}

TEST_CASE("cuda: nt_xent: float64 matches the CPU tightly") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(64);
  for (int64_t rows : {2, 6, 130})
    for (int64_t d : {3, 17, 65, 130})  // 64 doubles per chunk: 65 and 130 take two and three
      for (double temperature : {0.5, 0.1}) check_nt_xent_case(rows, d, temperature, DType::Float64, gen);
}

TEST_CASE("cuda: nt_xent: identical embeddings give log(2N - 1) and no gradient") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  // Every similarity is equal, so each row's softmax over its 2N - 1 others is uniform. 32768
  // rows fill the GPU with row tiles alone, so this also runs the unsplit launches.
  for (int64_t rows : {2, 8, 130, 32768}) {
    for (int64_t d : {3, 128}) {
      if (rows == 32768 && d == 128) continue;
      CAPTURE(rows);
      CAPTURE(d);
      Generator gen(static_cast<uint64_t>(rows * 1000 + d));
      const Tensor one = randn({1, d}, gen);
      const Tensor z = gpu(one.expand({rows, d}).contiguous());
      Tensor input = z.detach();
      input.requires_grad_(true);
      Tensor loss = nt_xent(input, 0.1);
      const double expected = std::log(static_cast<double>(rows - 1));
      CHECK(std::abs(loss.item() - expected) <= 1e-5 * expected + 1e-6);
      loss.backward();
      // dzn_i = g/(rows t) (sum_k (P_ik + P_ki) zn_k - 2 zn_pos) = (2 zn - 2 zn) / (rows t): zero up to rounding.
      CHECK(max_abs(input.grad()) <= 1e-5);
    }
  }
}

TEST_CASE("cuda: nt_xent: forward and backward give the same bits on every run") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(9);
  // 512 x 128: columns split into ranges (partials summed in order); 2048 x 128: several
  // column tiles per range; 512 x 3072: unsplit, many chunks.
  for (const auto& rows_d :
       std::vector<std::pair<int64_t, int64_t>>{{512, 128}, {130, 130}, {2048, 128}, {512, 3072}}) {
    const auto& rows = rows_d.first;
    const auto& d = rows_d.second;
    CAPTURE(rows);
    CAPTURE(d);
    const Tensor z = randn({rows, d}, gen);
    const LossRun first = run_nt_xent(z, 0.2, Device::CUDA);
    const LossRun second = run_nt_xent(z, 0.2, Device::CUDA);
    CHECK(bitwise_equal(first.loss, second.loss));
    CHECK(bitwise_equal(first.grad, second.grad));
  }
}

TEST_CASE("cuda: nt_xent: the fused kernels called directly, outputs poisoned") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
#ifdef SC_WITH_CUDA
  Generator gen(77);
  for (int64_t rows : {2, 66, 512})
    for (int64_t d : {3, 128, 130}) check_nt_xent_kernels<float>(rows, d, 0.1, gen);
  check_nt_xent_kernels<double>(130, 65, 0.5, gen);
  // Bad shapes throw (the op checks first; the kernels guard their own contract too).
  Tensor out = empty({4}, DType::Float32, Device::CUDA);
  CHECK_THROWS_AS(kernels::cuda::nt_xent_forward<float>(out.data<float>(), 3, 1, 1.0, out.data<float>(),
                                                        out.data<float>(), out.data<float>()),
                  Error);
  CHECK_THROWS_AS(kernels::cuda::nt_xent_backward<float>(out.data<float>(), out.data<float>(), out.data<float>(), 2, 0,
                                                         1.0, out.data<float>(), out.data<float>()),
                  Error);
#endif
}

// ---- tiny shapes for compute-sanitizer (memcheck and racecheck) ---------------------------------

TEST_CASE("cuda small: softmax_nt_xent: every kernel once on tiny shapes") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(1);
  // softmax / log_softmax: registers scalar ([3, 5]), registers vectors ([2, 8]), one block
  // per row ([2, 1100]), columns ([3, 4, 2] over dim 1); forward and backward each.
  for (const Shape& shape : {Shape{3, 5}, Shape{2, 8}, Shape{2, 1100}}) {
    check_softmax_case(false, shape, 1, DType::Float32, gen);
    check_softmax_case(true, shape, 1, DType::Float32, gen);
  }
  check_softmax_case(false, {3, 4, 2}, 1, DType::Float32, gen);
  check_softmax_case(true, {3, 4, 2}, 1, DType::Float32, gen);
  // cross_entropy: a warp per row, then a block per row.
  check_cross_entropy_case(3, 5, DType::Float32, gen);
  check_cross_entropy_case(2, 2100, DType::Float32, gen);
  // nt_xent: one tile and one chunk; then 2 x 2 tiles, two chunks, split columns.
  check_nt_xent_case(6, 3, 0.5, DType::Float32, gen);
  check_nt_xent_case(66, 130, 0.1, DType::Float32, gen);
}

TEST_CASE("cuda small: softmax_nt_xent: cross_entropy, registers with vectors and the online warp fallback") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(5);
  check_cross_entropy_case(3, 8, DType::Float32, gen);     // registers, 16-byte vectors
  check_cross_entropy_case(2, 1100, DType::Float32, gen);  // past 1024 floats: the online warp per row
}
