// Golden comparisons with PyTorch: every case in tests/golden/*.golden holds inputs, the
// forward output of a PyTorch op, a fixed random R and the gradients of L = sum(out * R).
// We run our op on the same inputs, form the same loss, call backward(), and compare.
// Also here: the golden-file reader's own tests, and a PyTorch-independent NT-Xent check.
//
// Set SC_GOLDEN_VERBOSE=1 to print how close every comparison came to its tolerance.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/ops.h"
#include "tests/golden_io.h"
#include "tests/op_registry.h"

using namespace sc;
using namespace sc::test;

namespace {

// |ours - pytorch| <= atol + rtol * |pytorch|, element by element.
struct Tolerance {
  double rtol;
  double atol;
};

// float64 on both sides: the only difference is the order in which sums are accumulated,
// ~1e-16 relative per term over at most a few hundred terms. 1e-10 keeps a margin of
// about a million while any wrong formula (a missing term, an off-by-one window, biased
// vs unbiased variance) shows up at 1e-3 or more.
constexpr Tolerance kFloat64{1e-10, 1e-10};

// float32 on both sides, again differing only in accumulation order (and in exp/log
// rounding). Each value here is a sum of at most ~100 products of O(1) numbers, each
// rounded at 6e-8 relative: 1e-5 relative covers the typical result, and the 1e-5
// absolute term covers elements that cancel to near zero, whose rounding error is set by
// the size of the terms, not of the result.
constexpr Tolerance kFloat32{1e-5, 1e-5};

// Max pooling copies one input per window: the forward must agree bit for bit.
constexpr Tolerance kExact{0.0, 0.0};

Tolerance tolerance_for(DType dtype) { return dtype == DType::Float64 ? kFloat64 : kFloat32; }

GoldenFile load(const char* file_name) { return read_golden_file(std::string(SC_GOLDEN_DIR) + "/" + file_name); }

bool verbose() {
  const char* v = std::getenv("SC_GOLDEN_VERBOSE");
  return v != nullptr && std::strcmp(v, "0") != 0;
}

// A fresh leaf holding the golden tensor's values, so the file's copy is never touched.
Tensor leaf(const GoldenFile& g, const std::string& name) {
  Tensor t = g.get(name).clone();
  t.requires_grad_(true);
  return t;
}

// L = sum(out * R), as the generator formed it, then backward.
void backward_of_weighted_sum(const Tensor& out, const Tensor& r) { sum(mul(out, r)).backward(); }

// Compares `actual` with the golden tensor `name` under `tol`.
void expect_close(const GoldenFile& g, const std::string& name, const Tensor& actual, Tolerance tol) {
  const Tensor& expected = g.get(name);
  const std::string report = compare_tensors(actual, expected, tol.rtol, tol.atol);
  CHECK_MESSAGE(report.empty(), g.source, " ", name, ": ", report);
  if (verbose() && report.empty() && tol.atol + tol.rtol > 0) {
    MESSAGE(name, ": worst error is ", worst_ratio(actual, expected, tol.atol, tol.rtol), " of the tolerance");
  }
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

// ---- the reader ---------------------------------------------------------------

TEST_CASE("golden io: what encode_golden writes, parse_golden reads back") {
  std::map<std::string, Tensor> tensors;
  tensors["a/f32"] = from_vector(std::vector<float>{1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -1e-3f}, {2, 3});
  tensors["a/f64"] = from_vector(std::vector<double>{1.0 / 3.0, -1e300, 4.9e-324}, {3});
  tensors["b/i64"] = from_vector(std::vector<int64_t>{-1, INT64_MAX, INT64_MIN, 0}, {2, 1, 2});
  tensors["c/scalar"] = scalar_tensor(2.5, DType::Float64);
  // empty(), not zeros(): fill_ rejects a [3, 0] tensor (its dim 0 gets stride 0).
  tensors["c/empty"] = empty({3, 0}, DType::Float32);
  tensors["c/transposed"] = from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3}).t();  // non-contiguous

  const GoldenFile g = parse_golden(encode_golden(tensors), "memory");
  REQUIRE(g.tensors.size() == tensors.size());
  for (const auto& name_t : tensors) {
    const auto& name = name_t.first;
    const auto& t = name_t.second;
    CAPTURE(name);
    const Tensor& back = g.get(name);
    CHECK(back.shape() == t.shape());
    CHECK(back.dtype() == t.dtype());
    CHECK(back.is_contiguous());
    CHECK(compare_tensors(back, t, 0.0, 0.0) == "");
  }
  CHECK(g.get("a/f64").to_vector<double>()[2] == 4.9e-324);  // bit-exact, subnormals included
  CHECK(g.cases_with("f32") == std::vector<std::string>{"a"});
  CHECK(g.cases_with("missing").empty());
  CHECK(g.torch_version() == "unknown");
}

TEST_CASE("golden io: a cut anywhere in a file is an sc::Error naming the file") {
  std::map<std::string, Tensor> tensors;
  tensors["x"] = from_vector(std::vector<double>{1, 2, 3, 4}, {2, 2});
  tensors["y"] = from_vector(std::vector<int64_t>{7}, {1});
  const std::string bytes = encode_golden(tensors);
  for (size_t length = 0; length < bytes.size(); ++length) {
    CAPTURE(length);
    const std::string msg = message_of([&] { parse_golden(std::string_view(bytes).substr(0, length), "cut.golden"); });
    CHECK(contains(msg, "cut.golden"));
    CHECK((contains(msg, "truncated") || contains(msg, "not a golden file") || contains(msg, "cannot fit")));
  }
  // A cut inside the data says which tensor and how much was missing.
  const std::string msg = message_of([&] { parse_golden(std::string_view(bytes).substr(0, bytes.size() - 3), "f"); });
  CHECK(contains(msg, "f: truncated golden file: tensor 'y' of shape [1]'s data needs 8 bytes"));
  CHECK(contains(msg, "only 5 are left"));
}

TEST_CASE("golden io: malformed files are rejected with a message saying what is wrong") {
  std::map<std::string, Tensor> one;
  one["t"] = from_vector(std::vector<float>{1, 2}, {2});
  const std::string good = encode_golden(one);
  // Layout of `good`: magic [0,8), count [8,16), name length [16,20), name [20,21),
  // dtype code [21,25), ndim [25,29), dim 0 [29,37), data [37,45).
  auto patched = [&](size_t at, const void* value, size_t n) {
    std::string b = good;
    std::memcpy(b.data() + at, value, n);
    return b;
  };
  auto error_for = [](const std::string& bytes) { return message_of([&] { parse_golden(bytes, "bad.golden"); }); };

  CHECK(parse_golden(good, "good").tensors.size() == 1);
  CHECK(contains(error_for(patched(0, "SCGOLD02", 8)), "bad.golden: not a golden file"));
  const uint64_t big_count = 1000;
  CHECK(contains(error_for(patched(8, &big_count, 8)), "bad.golden: the tensor count 1000 cannot fit"));
  const uint32_t zero_length = 0, huge_length = 1u << 30;
  CHECK(contains(error_for(patched(16, &zero_length, 4)), "tensor 0 has a name length of 0"));
  CHECK(contains(error_for(patched(16, &huge_length, 4)), "name length of 1073741824"));
  CHECK(contains(error_for(patched(20, "\n", 1)), "not printable ASCII"));
  const uint32_t bad_code = 7, many_dims = 9;
  CHECK(contains(error_for(patched(21, &bad_code, 4)), "bad.golden: tensor 't' has an unknown dtype code 7"));
  CHECK(contains(error_for(patched(25, &many_dims, 4)), "tensor 't' has 9 dims"));
  const int64_t negative = -2, huge = int64_t{1} << 61;
  CHECK(contains(error_for(patched(29, &negative, 8)), "tensor 't' has a negative dim -2"));
  CHECK(contains(error_for(patched(29, &huge, 8)), "holds more data than the file has left"));
  CHECK(contains(error_for(good + "x"), "bad.golden: 1 bytes follow the last of the 1 tensors"));

  // The same record twice under one count of 2.
  std::string twice = good.substr(0, 8);
  const uint64_t two = 2;
  twice.append(reinterpret_cast<const char*>(&two), 8);
  twice += good.substr(16) + good.substr(16);
  CHECK(contains(error_for(twice), "bad.golden: the name 't' appears twice"));

  const GoldenFile g = parse_golden(good, "good.golden");
  CHECK(contains(message_of([&] { g.get("nope"); }), "good.golden: golden file has no tensor named 'nope'"));
  CHECK(contains(message_of([&] { read_golden_file("/nonexistent/x.golden"); }),
                 "/nonexistent/x.golden: cannot open the golden file"));
  CHECK(contains(message_of([&] { encode_golden({{"i32", zeros({1}, DType::Int32)}}); }),
                 "int32 has no golden-file code"));
}

TEST_CASE("golden io: compare_tensors reports the worst element") {
  Tensor e = from_vector(std::vector<double>{1.0, 2.0, 3.0, 4.0}, {2, 2});
  CHECK(compare_tensors(e, e, 0.0, 0.0) == "");
  CHECK(compare_tensors(add(e, 1e-7), e, 0.0, 1e-6) == "");
  CHECK(compare_tensors(mul(e, 1.0 + 1e-7), e, 1e-6, 0.0) == "");
  const std::string r = compare_tensors(from_vector(std::vector<double>{1.0, 2.0, 3.5, 4.1}, {2, 2}), e, 0.0, 0.01);
  CHECK(contains(r, "2 of 4 elements differ; worst at [1, 0]: got 3.5, expected 3"));
  CHECK(contains(compare_tensors(from_vector(std::vector<double>{NAN, 2, 3, 4}, {2, 2}), e, 1.0, 1.0), "got nan"));
  CHECK(contains(compare_tensors(e.to(DType::Float32), e, 1.0, 1.0),
                 "got float32[2, 2] on cpu, expected float64[2, 2]"));
  CHECK(contains(compare_tensors(e.reshape({4}), e, 1.0, 1.0), "got float64[4]"));
  CHECK(contains(compare_tensors(Tensor(), e, 1.0, 1.0), "actual tensor is undefined"));
}

TEST_CASE("golden: every file was written by PyTorch and holds its cases") {
  const std::pair<const char*, size_t> files[] = {
      {"conv2d.golden", 8}, {"batch_norm.golden", 4}, {"pool.golden", 8}, {"softmax.golden", 6}, {"nt_xent.golden", 4}};
  for (const auto& file_case_count : files) {
    const auto& file = file_case_count.first;
    const auto& case_count = file_case_count.second;
    CAPTURE(file);
    const GoldenFile g = load(file);
    const std::string version = g.torch_version();
    CHECK((!version.empty() && version[0] >= '1' && version[0] <= '9'));
    CHECK(g.cases_with("out").size() == case_count);
  }
}

// ---- the ops --------------------------------------------------------------------

TEST_CASE("golden: conv2d matches PyTorch (forward, grad of x, weight, bias)") {
  const GoldenFile g = load("conv2d.golden");
  const std::vector<std::string> cases = g.cases_with("out");
  REQUIRE(cases.size() == 8);
  for (const std::string& c : cases) {
    CAPTURE(c);
    Tensor x = leaf(g, c + "/x");
    Tensor weight = leaf(g, c + "/weight");
    const bool has_bias = g.has(c + "/bias");
    Tensor bias = has_bias ? leaf(g, c + "/bias") : Tensor();
    const std::vector<int64_t> o = g.get(c + "/options").to_vector<int64_t>();
    REQUIRE(o.size() == 6);
    Conv2dOptions options;
    options.stride_h = o[0], options.stride_w = o[1];
    options.pad_h = o[2], options.pad_w = o[3];
    options.dilation_h = o[4], options.dilation_w = o[5];

    Tensor out = conv2d(x, weight, bias, options);
    backward_of_weighted_sum(out, g.get(c + "/R"));
    // Forward: sums of C*KH*KW <= 27 products; grad_x: O*KH*KW <= 36; grad_weight: N*OH*OW <= 72;
    // grad_bias: N*OH*OW <= 72 values of R. All within kFloat32's "~100 O(1) terms".
    const Tolerance tol = tolerance_for(x.dtype());
    expect_close(g, c + "/out", out, tol);
    expect_close(g, c + "/grad_x", x.grad(), tol);
    expect_close(g, c + "/grad_weight", weight.grad(), tol);
    if (has_bias) expect_close(g, c + "/grad_bias", bias.grad(), tol);
  }
}

TEST_CASE("golden: batch_norm matches PyTorch (training and eval, grads, running statistics)") {
  const GoldenFile g = load("batch_norm.golden");
  const std::vector<std::string> cases = g.cases_with("out");
  REQUIRE(cases.size() == 4);
  for (const std::string& c : cases) {
    CAPTURE(c);
    Tensor x = leaf(g, c + "/x");
    Tensor weight = leaf(g, c + "/weight");
    Tensor bias = leaf(g, c + "/bias");
    // batch_norm updates these in place in training mode.
    Tensor running_mean = g.get(c + "/running_mean_in").clone();
    Tensor running_var = g.get(c + "/running_var_in").clone();
    const bool training = g.get(c + "/training").item() != 0.0;
    const std::vector<double> momentum_eps = g.get(c + "/momentum_eps").to_vector<double>();
    REQUIRE(momentum_eps.size() == 2);

    Tensor out = batch_norm(x, weight, bias, running_mean, running_var, training, momentum_eps[0], momentum_eps[1]);
    backward_of_weighted_sum(out, g.get(c + "/R"));
    // Means and variances over N*H*W = 100 (4-D) or N = 8 (2-D) values of size ~2: the
    // kFloat32 budget of ~100 O(1) terms. grad_x = w/sigma * (g - mean(g) - xhat * mean(g * xhat))
    // cancels to near zero for some elements, which the absolute term covers.
    const Tolerance tol = tolerance_for(x.dtype());
    expect_close(g, c + "/out", out, tol);
    expect_close(g, c + "/grad_x", x.grad(), tol);
    expect_close(g, c + "/grad_weight", weight.grad(), tol);
    expect_close(g, c + "/grad_bias", bias.grad(), tol);
    // Training: (1 - momentum) * r + momentum * batch statistic, the variance unbiased.
    // Eval: the golden "out" statistics equal the "in" ones, so this checks nothing moved.
    expect_close(g, c + "/running_mean_out", running_mean, tol);
    expect_close(g, c + "/running_var_out", running_var, tol);
  }
}

TEST_CASE("golden: max_pool2d, avg_pool2d and global_avg_pool2d match PyTorch") {
  const GoldenFile g = load("pool.golden");
  const std::vector<std::string> cases = g.cases_with("out");
  REQUIRE(cases.size() == 8);
  for (const std::string& c : cases) {
    CAPTURE(c);
    Tensor x = leaf(g, c + "/x");
    const bool is_max = c.rfind("max_", 0) == 0;
    const bool is_global = c.rfind("global_avg", 0) == 0;
    Tensor out;
    if (is_global) {
      out = global_avg_pool2d(x);
    } else {
      const std::vector<int64_t> o = g.get(c + "/options").to_vector<int64_t>();
      REQUIRE(o.size() == 6);
      Pool2dOptions options;
      options.kernel_h = o[0], options.kernel_w = o[1];
      options.stride_h = o[2], options.stride_w = o[3];
      options.pad_h = o[4], options.pad_w = o[5];
      out = is_max ? max_pool2d(x, options) : avg_pool2d(x, options);
    }
    backward_of_weighted_sum(out, g.get(c + "/R"));
    const Tolerance tol = tolerance_for(x.dtype());
    // Max pooling picks one input per window (random inputs: no ties), so its output is
    // a copy and must match exactly. Its grad_x sums the R of up to 4 overlapping windows
    // (kernel 3, stride 2) in some order, so it gets the usual tolerance.
    expect_close(g, c + "/out", out, is_max ? kExact : tol);
    expect_close(g, c + "/grad_x", x.grad(), tol);
  }
}

TEST_CASE("golden: softmax, log_softmax and cross_entropy match PyTorch") {
  const GoldenFile g = load("softmax.golden");
  const std::vector<std::string> cases = g.cases_with("out");
  REQUIRE(cases.size() == 6);
  for (const std::string& c : cases) {
    CAPTURE(c);
    Tensor out, input;
    if (c.rfind("cross_entropy", 0) == 0) {
      input = leaf(g, c + "/logits");
      out = cross_entropy(input, g.get(c + "/targets"));
    } else {
      input = leaf(g, c + "/x");
      out = c.rfind("log_softmax", 0) == 0 ? log_softmax(input, 1) : softmax(input, 1);
    }
    backward_of_weighted_sum(out, g.get(c + "/R"));
    // Rows of 5 to 7 logits of size ~2: a handful of exp/log roundings per value.
    const Tolerance tol = tolerance_for(input.dtype());
    expect_close(g, c + "/out", out, tol);
    expect_close(g, c + (c.rfind("cross_entropy", 0) == 0 ? "/grad_logits" : "/grad_x"), input.grad(), tol);
  }
}

TEST_CASE("golden: nt_xent matches PyTorch's SimCLR composition (normalize, matmul, -inf diagonal, cross_entropy)") {
  const GoldenFile g = load("nt_xent.golden");
  const std::vector<std::string> cases = g.cases_with("out");
  REQUIRE(cases.size() == 4);
  for (const std::string& c : cases) {
    CAPTURE(c);
    Tensor z = leaf(g, c + "/z");
    const double temperature = g.get(c + "/temperature").item();
    Tensor out = nt_xent(z, temperature);
    backward_of_weighted_sum(out, g.get(c + "/R"));
    // Each loss term is a logsumexp over 2N - 1 = 7 logits made from 16-term dot products;
    // with temperature 0.1 the logits reach 10, where float32 rounding is ~1e-6 absolute,
    // still inside kFloat32's 1e-5.
    const Tolerance tol = tolerance_for(z.dtype());
    expect_close(g, c + "/out", out, tol);
    expect_close(g, c + "/grad_z", z.grad(), tol);
  }
}

TEST_CASE("golden: nt_xent of identical embeddings is log(2N - 1), with a zero gradient") {
  // No PyTorch involved. With every row equal, every similarity is 1/t, so each row's loss
  // is -1/t + log((2N - 1) * exp(1/t)) = log(2N - 1), whatever the temperature. The
  // gradient is zero: cosine similarity is flat in every direction at its maximum.
  Generator gen(42);
  for (int64_t two_n : {4, 8, 64}) {
    for (double temperature : {0.5, 0.1, 0.07}) {
      CAPTURE(two_n);
      CAPTURE(temperature);
      const Tensor row = randn({1, 16}, gen, DType::Float64);
      Tensor z = row.expand({two_n, 16}).contiguous();
      z.requires_grad_(true);
      Tensor loss = nt_xent(z, temperature);
      const double expected = std::log(static_cast<double>(two_n - 1));
      CHECK(std::fabs(loss.item() - expected) <= 1e-6);
      loss.backward();
      // An analytic zero computed as differences of O(1/t) terms in float64.
      CHECK(max(abs(z.grad())).item() <= 1e-9);

      // float32: the cosines are 1 within ~1e-7, each multiplied by 1/t <= 15 before
      // the logsumexp, so the loss is log(2N - 1) within ~1e-5.
      const Tensor z32 = z.detach().to(DType::Float32);
      CHECK(std::fabs(nt_xent(z32, temperature).item() - expected) <= 1e-5);
    }
  }
}
