// Registry cases for batch_norm, the softmax family, cross_entropy, normalize and nt_xent.
#include "tests/op_registry.h"

namespace sc::test {
namespace {

using Inputs = std::vector<Tensor>;

// ---- softmax / log_softmax ----------------------------------------------------------

OpCase softmax_case(const std::string& op, const std::string& name, Shape s, int64_t dim, bool transposed = false) {
  const bool log = op == "log_softmax";
  return {op, name,
          [s, transposed](Generator& g, DType dt) {
            return Inputs{transposed ? randn_transposed(g, s, dt) : mul(randn_t(g, s, dt), 2.0)};
          },
          [dim, log](const Inputs& in) { return log ? log_softmax(in[0], dim) : softmax(in[0], dim); }, {0}};
}

// ---- cross_entropy -------------------------------------------------------------------

OpCase cross_entropy_case(const std::string& name, Shape logits_shape, std::vector<int64_t> labels,
                          bool transposed = false) {
  const Shape target_shape{static_cast<int64_t>(labels.size())};
  return {"cross_entropy", name,
          [logits_shape, labels, target_shape, transposed](Generator& g, DType dt) {
            Tensor logits = transposed ? randn_transposed(g, logits_shape, dt) : mul(randn_t(g, logits_shape, dt), 2.0);
            return Inputs{logits, from_vector(labels, target_shape)};
          },
          [](const Inputs& in) { return cross_entropy(in[0], in[1]); }, {0}};
}

// ---- batch_norm ----------------------------------------------------------------------
// Inputs: x, running_mean, running_var, then weight and bias with affine (undefined tensors
// are left out: the registry converts every input to float32). The running variance is kept
// positive. In training the running stats are updated on every call, which never changes
// the training output, so the gradient check (which runs the op many times) sees one function.

OpCase batch_norm_case(const std::string& name, Shape x_shape, bool affine, bool training, bool permuted = false,
                       bool fused_relu = false) {
  const int64_t C = x_shape[1];
  return {fused_relu ? "batch_norm_relu" : "batch_norm", name,
          [x_shape, C, affine, permuted](Generator& g, DType dt) {
            Tensor x;
            if (permuted) {
              // [N, C, H, W] as a permuted view of a [N, H, W, C] tensor (channels-last memory).
              x = permute(randn_t(g, {x_shape[0], x_shape[2], x_shape[3], C}, dt), {0, 3, 1, 2});
            } else {
              x = add(mul(randn_t(g, x_shape, dt), 1.5), 0.5);
            }
            Inputs in{x, randn_t(g, {C}, dt), rand_t(g, {C}, dt, 0.5, 2.0)};
            if (affine) {
              in.push_back(rand_t(g, {C}, dt, 0.5, 1.5));  // weight
              in.push_back(randn_t(g, {C}, dt));           // bias
            }
            return in;
          },
          [training, affine, fused_relu](const Inputs& in) {
            const Tensor weight = affine ? in[3] : Tensor(), bias = affine ? in[4] : Tensor();
            if (fused_relu) return batch_norm_relu(in[0], weight, bias, in[1], in[2], training, 0.1, 1e-5);
            return batch_norm(in[0], weight, bias, in[1], in[2], training, 0.1, 1e-5);
          },
          affine ? std::vector<int>{0, 3, 4} : std::vector<int>{0}};
}

// ---- normalize -----------------------------------------------------------------------

OpCase normalize_case(const std::string& name, Shape s, int64_t dim, bool transposed = false) {
  return {"normalize", name,
          [s, transposed](Generator& g, DType dt) {
            return Inputs{transposed ? randn_transposed(g, s, dt) : randn_t(g, s, dt)};
          },
          [dim](const Inputs& in) { return normalize(in[0], dim); }, {0}};
}

// ---- nt_xent -------------------------------------------------------------------------

OpCase nt_xent_case(const std::string& name, int64_t rows, int64_t d, double temperature, bool transposed = false) {
  return {"nt_xent", name,
          [rows, d, transposed](Generator& g, DType dt) {
            return Inputs{transposed ? randn_transposed(g, {rows, d}, dt) : randn_t(g, {rows, d}, dt)};
          },
          [temperature](const Inputs& in) { return nt_xent(in[0], temperature); }, {0}};
}

std::vector<OpCase> cases() {
  std::vector<OpCase> c;
  for (const std::string op : {"softmax", "log_softmax"}) {
    c.push_back(softmax_case(op, "[3,5] dim 1", {3, 5}, 1));
    c.push_back(softmax_case(op, "[4,3] dim 0", {4, 3}, 0));
    c.push_back(softmax_case(op, "[2,4,3] middle dim 1", {2, 4, 3}, 1));
    c.push_back(softmax_case(op, "[2,3,4] dim -1", {2, 3, 4}, -1));
    c.push_back(softmax_case(op, "transposed [5,4]^T dim 1", {4, 5}, 1, true));
  }

  c.push_back(cross_entropy_case("[4,5]", {4, 5}, {0, 4, 2, 2}));
  c.push_back(cross_entropy_case("[1,3]", {1, 3}, {1}));
  c.push_back(cross_entropy_case("[6,2] binary", {6, 2}, {0, 1, 1, 0, 1, 0}));
  c.push_back(cross_entropy_case("transposed [7,3]^T", {3, 7}, {6, 0, 3}, true));

  c.push_back(batch_norm_case("[6,3] train, affine", {6, 3}, true, true));
  c.push_back(batch_norm_case("[6,3] train, no affine", {6, 3}, false, true));
  c.push_back(batch_norm_case("[5,4] eval, affine", {5, 4}, true, false));
  c.push_back(batch_norm_case("[5,4] eval, no affine", {5, 4}, false, false));
  c.push_back(batch_norm_case("[2,3,3,2] train, affine", {2, 3, 3, 2}, true, true));
  c.push_back(batch_norm_case("[2,3,2,2] train, no affine", {2, 3, 2, 2}, false, true));
  c.push_back(batch_norm_case("[2,3,2,3] eval, affine", {2, 3, 2, 3}, true, false));
  c.push_back(batch_norm_case("[2,2,2,2] eval, no affine", {2, 2, 2, 2}, false, false));
  c.push_back(batch_norm_case("channels-last permuted [2,3,2,2] train, affine", {2, 3, 2, 2}, true, true, true));
  c.push_back(batch_norm_case("channels-last permuted [2,3,2,2] eval, affine", {2, 3, 2, 2}, true, false, true));
  // The fused batch_norm_relu: about half of the outputs are clipped to 0 (their gradient is 0).
  c.push_back(batch_norm_case("[2,3,3,2] train, affine", {2, 3, 3, 2}, true, true, false, true));
  c.push_back(batch_norm_case("[6,3] train, no affine", {6, 3}, false, true, false, true));
  c.push_back(batch_norm_case("[2,3,2,3] eval, affine", {2, 3, 2, 3}, true, false, false, true));
  c.push_back(batch_norm_case("channels-last permuted [2,3,2,2] train, affine", {2, 3, 2, 2}, true, true, true, true));
  // Training without running statistics: batch statistics only.
  c.push_back({"batch_norm", "[4,3,1,2] train, no running stats",
               [](Generator& g, DType dt) {
                 return Inputs{randn_t(g, {4, 3, 1, 2}, dt), rand_t(g, {3}, dt, 0.5, 1.5), randn_t(g, {3}, dt)};
               },
               [](const Inputs& in) { return batch_norm(in[0], in[1], in[2], Tensor(), Tensor(), true); }, {0, 1, 2}});

  c.push_back(normalize_case("[4,5] dim 1", {4, 5}, 1));
  c.push_back(normalize_case("[4,5] dim 0", {4, 5}, 0));
  c.push_back(normalize_case("[2,3,4] middle dim 1", {2, 3, 4}, 1));
  c.push_back(normalize_case("transposed [6,3]^T dim -1", {3, 6}, -1, true));

  c.push_back(nt_xent_case("2N=2, d=3, t=0.5", 2, 3, 0.5));
  c.push_back(nt_xent_case("2N=6, d=4, t=0.1", 6, 4, 0.1));
  c.push_back(nt_xent_case("2N=6, d=5, t=0.5", 6, 5, 0.5));
  c.push_back(nt_xent_case("2N=8, d=3, t=0.1", 8, 3, 0.1));
  c.push_back(nt_xent_case("2N=8, d=6, t=0.5", 8, 6, 0.5));
  c.push_back(nt_xent_case("transposed [8,4] (from [4,8]^T), t=0.1", 8, 4, 0.1, true));
  return c;
}

RegisterOps reg(cases());

}  // namespace
}  // namespace sc::test
