// Registry cases for conv2d and the pooling ops: strides, padding, dilation, odd and
// rectangular shapes, no bias, the 1x1 fast path, batches that split unevenly between
// threads, and non-contiguous (permuted / transposed) inputs.
#include <utility>

#include "tests/op_registry.h"

namespace sc::test {
namespace {

using Inputs = std::vector<Tensor>;

// ---- conv2d -------------------------------------------------------------------------

// Inputs {x, weight, bias} (or {x, weight} without bias), every one gradient-checked.
OpCase conv_case(const std::string& name, Shape x_shape, Shape w_shape, bool with_bias, Conv2dOptions o) {
  return {"conv2d", name,
          [x_shape, w_shape, with_bias](Generator& g, DType dt) {
            Inputs in{randn_t(g, x_shape, dt), randn_t(g, w_shape, dt)};
            if (with_bias) in.push_back(randn_t(g, {w_shape[0]}, dt));
            return in;
          },
          [o, with_bias](const Inputs& in) { return conv2d(in[0], in[1], with_bias ? in[2] : Tensor(), o); },
          with_bias ? std::vector<int>{0, 1, 2} : std::vector<int>{0, 1}};
}

Conv2dOptions conv_opts(int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dil_h = 1,
                        int64_t dil_w = 1) {
  Conv2dOptions o;
  o.stride_h = stride_h, o.stride_w = stride_w;
  o.pad_h = pad_h, o.pad_w = pad_w;
  o.dilation_h = dil_h, o.dilation_w = dil_w;
  return o;
}

std::vector<OpCase> conv_cases() {
  std::vector<OpCase> c;
  c.push_back(conv_case("3x3, pad 1, bias: [2,2,5,5] * [3,2,3,3]", {2, 2, 5, 5}, {3, 2, 3, 3}, true, conv_opts(1, 1, 1, 1)));
  c.push_back(conv_case("stride 2, pad 1, odd size: [1,3,7,6] * [2,3,3,3]", {1, 3, 7, 6}, {2, 3, 3, 3}, true,
                        conv_opts(2, 2, 1, 1)));
  c.push_back(conv_case("dilation 2, pad 2: [1,2,7,7] * [2,2,3,3]", {1, 2, 7, 7}, {2, 2, 3, 3}, true,
                        conv_opts(1, 1, 2, 2, 2, 2)));
  c.push_back(conv_case("rectangular 2x3 kernel, stride (2,1), pad (0,1), no bias: [2,1,5,6] * [3,1,2,3]", {2, 1, 5, 6},
                        {3, 1, 2, 3}, false, conv_opts(2, 1, 0, 1)));
  c.push_back(conv_case("per-axis stride (1,2), pad (2,0), dilation (2,1): [1,2,6,7] * [2,2,3,2]", {1, 2, 6, 7},
                        {2, 2, 3, 2}, true, conv_opts(1, 2, 2, 0, 2, 1)));
  c.push_back(conv_case("1x1 kernel (im2col skipped): [2,4,3,3] * [5,4,1,1]", {2, 4, 3, 3}, {5, 4, 1, 1}, true,
                        conv_opts(1, 1, 0, 0)));
  c.push_back(conv_case("1x1 kernel, stride 2: [2,3,5,5] * [2,3,1,1]", {2, 3, 5, 5}, {2, 3, 1, 1}, false,
                        conv_opts(2, 2, 0, 0)));
  c.push_back(conv_case("5 images (uneven split between threads): [5,1,4,4] * [2,1,3,3]", {5, 1, 4, 4}, {2, 1, 3, 3},
                        true, conv_opts(1, 1, 1, 1)));
  c.push_back(conv_case("kernel as large as the padded input: [1,2,3,3] * [2,2,5,5]", {1, 2, 3, 3}, {2, 2, 5, 5}, true,
                        conv_opts(1, 1, 1, 1)));
  // Non-contiguous: x is an NHWC tensor seen as NCHW, the weight an IOHW tensor seen as OIHW.
  c.push_back({"conv2d", "non-contiguous x (NHWC permuted) and weight (transposed): [2,3,4,5] * [2,3,3,3]",
               [](Generator& g, DType dt) {
                 return Inputs{randn_t(g, {2, 4, 5, 3}, dt).permute({0, 3, 1, 2}),
                               randn_t(g, {3, 2, 3, 3}, dt).transpose(0, 1), randn_t(g, {2}, dt)};
               },
               [](const Inputs& in) { return conv2d(in[0], in[1], in[2], conv_opts(1, 1, 1, 1)); }, {0, 1, 2}});
  return c;
}

// ---- pooling ----------------------------------------------------------------------------

// Distinct values, at least 0.05 apart, in random order: no window holds a tie (where max
// has no derivative) and a 1e-6 finite-difference step cannot change which element wins.
Tensor distinct_values(Generator& g, const Shape& shape, DType dt) {
  const int64_t n = shape_numel(shape);
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = 0.05 * static_cast<double>(i - n / 2);
  for (int64_t i = n - 1; i > 0; --i) std::swap(v[i], v[g.below(i + 1)]);  // Fisher-Yates
  return from_vector(v, shape).to(dt);
}

Pool2dOptions pool_opts(int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph = 0, int64_t pw = 0) {
  Pool2dOptions o;
  o.kernel_h = kh, o.kernel_w = kw;
  o.stride_h = sh, o.stride_w = sw;
  o.pad_h = ph, o.pad_w = pw;
  return o;
}

OpCase pool_case(const std::string& op, const std::string& name, Shape x_shape, Pool2dOptions o) {
  const bool is_max = op == "max_pool2d";
  return {op, name,
          [x_shape, is_max](Generator& g, DType dt) {
            return Inputs{is_max ? distinct_values(g, x_shape, dt) : randn_t(g, x_shape, dt)};
          },
          [o, is_max](const Inputs& in) { return is_max ? max_pool2d(in[0], o) : avg_pool2d(in[0], o); }, {0}};
}

// x of logical shape [N,C,H,W] stored as NHWC, so the NCHW view is not contiguous.
Tensor nhwc_view(Tensor nhwc) { return nhwc.permute({0, 3, 1, 2}); }

std::vector<OpCase> pool_cases() {
  std::vector<OpCase> c;
  for (const std::string op : {"max_pool2d", "avg_pool2d"}) {
    c.push_back(pool_case(op, "2x2 stride 2: [2,2,4,4]", {2, 2, 4, 4}, pool_opts(2, 2, 2, 2)));
    c.push_back(pool_case(op, "3x3 stride 2 pad 1, overlapping windows: [1,2,7,7]", {1, 2, 7, 7}, pool_opts(3, 3, 2, 2, 1, 1)));
    c.push_back(pool_case(op, "3x3 stride 1: every element in several windows: [1,1,5,6]", {1, 1, 5, 6},
                          pool_opts(3, 3, 1, 1)));
    c.push_back(pool_case(op, "rectangular 2x3 window, stride (1,2), pad (1,1), odd size: [1,2,5,7]", {1, 2, 5, 7},
                          pool_opts(2, 3, 1, 2, 1, 1)));
    c.push_back(pool_case(op, "3x2 window, stride (2,1), pad (1,0): [2,3,5,4]", {2, 3, 5, 4}, pool_opts(3, 2, 2, 1, 1, 0)));
  }
  c.push_back({"max_pool2d", "non-contiguous x (NHWC permuted): [2,3,4,4]",
               [](Generator& g, DType dt) { return Inputs{nhwc_view(distinct_values(g, {2, 4, 4, 3}, dt))}; },
               [](const Inputs& in) { return max_pool2d(in[0], pool_opts(2, 2, 2, 2)); }, {0}});
  c.push_back({"avg_pool2d", "non-contiguous x (NHWC permuted): [2,3,4,4]",
               [](Generator& g, DType dt) { return Inputs{nhwc_view(randn_t(g, {2, 4, 4, 3}, dt))}; },
               [](const Inputs& in) { return avg_pool2d(in[0], pool_opts(3, 3, 1, 1, 1, 1)); }, {0}});

  auto global = [](const Inputs& in) { return global_avg_pool2d(in[0]); };
  c.push_back({"global_avg_pool2d", "[2,3,4,5]", [](Generator& g, DType dt) { return Inputs{randn_t(g, {2, 3, 4, 5}, dt)}; },
               global, {0}});
  c.push_back({"global_avg_pool2d", "1x1 maps: [3,2,1,1]",
               [](Generator& g, DType dt) { return Inputs{randn_t(g, {3, 2, 1, 1}, dt)}; }, global, {0}});
  c.push_back({"global_avg_pool2d", "non-contiguous x (H and W transposed): [2,3,4,5]",
               [](Generator& g, DType dt) { return Inputs{randn_t(g, {2, 3, 5, 4}, dt).transpose(2, 3)}; }, global, {0}});
  return c;
}

RegisterOps reg_conv(conv_cases());
RegisterOps reg_pool(pool_cases());

}  // namespace
}  // namespace sc::test
