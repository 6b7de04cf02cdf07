// Registry cases for matmul (2-D, batched, transposed and copied operand layouts) and
// for concat, stack and index_select (repeated indices, whose gradients must add up).
#include "tests/op_registry.h"

namespace sc::test {
namespace {

using Inputs = std::vector<Tensor>;

Tensor indices(std::vector<int64_t> values) {
  const int64_t n = static_cast<int64_t>(values.size());
  return from_vector(values, {n});
}

OpCase matmul_case(const std::string& name, std::function<Inputs(Generator&, DType)> make) {
  return {"matmul", name, std::move(make), [](const Inputs& in) { return matmul(in[0], in[1]); }, {0, 1}};
}

std::vector<OpCase> cases() {
  std::vector<OpCase> c;

  // ---- matmul: sizes that are multiples of nothing
  c.push_back(matmul_case("2-D [5,7] x [7,3]", [](Generator& g, DType dt) {
    return Inputs{randn_t(g, {5, 7}, dt), randn_t(g, {7, 3}, dt)};
  }));
  c.push_back(matmul_case("batched [2,5,7] x [2,7,3]", [](Generator& g, DType dt) {
    return Inputs{randn_t(g, {2, 5, 7}, dt), randn_t(g, {2, 7, 3}, dt)};
  }));
  // Transposed views: GEMM reads them with its trans flags, no copy.
  c.push_back(matmul_case("transposed a: [7,5]^T x [7,3]", [](Generator& g, DType dt) {
    return Inputs{randn_transposed(g, {5, 7}, dt), randn_t(g, {7, 3}, dt)};
  }));
  c.push_back(matmul_case("transposed b: [5,7] x [3,7]^T", [](Generator& g, DType dt) {
    return Inputs{randn_t(g, {5, 7}, dt), randn_transposed(g, {7, 3}, dt)};
  }));
  c.push_back(matmul_case("batched, both transposed: [2,7,5]^T x [2,3,7]^T", [](Generator& g, DType dt) {
    return Inputs{randn_t(g, {2, 7, 5}, dt).transpose(1, 2), randn_t(g, {2, 3, 7}, dt).transpose(1, 2)};
  }));
  // A column slice: row-major with a leading dimension larger than the width.
  c.push_back({"matmul", "narrowed a: [5,9][:, 1:8] x [7,3]",
               [](Generator& g, DType dt) { return Inputs{randn_t(g, {5, 9}, dt), randn_t(g, {7, 3}, dt)}; },
               [](const Inputs& in) { return matmul(in[0].narrow(1, 1, 7), in[1]); }, {0, 1}});
  // Layouts GEMM cannot read (expanded columns, batch innermost) are copied first.
  c.push_back({"matmul", "expanded b: [5,7] x [7,1]->[7,3] (copied)",
               [](Generator& g, DType dt) { return Inputs{randn_t(g, {5, 7}, dt), randn_t(g, {7, 1}, dt)}; },
               [](const Inputs& in) { return matmul(in[0], in[1].expand({7, 3})); }, {0, 1}});
  c.push_back({"matmul", "permuted a: [5,7,2] -> [2,5,7] (copied) x [2,7,3]",
               [](Generator& g, DType dt) { return Inputs{randn_t(g, {5, 7, 2}, dt), randn_t(g, {2, 7, 3}, dt)}; },
               [](const Inputs& in) { return matmul(in[0].permute({2, 0, 1}), in[1]); }, {0, 1}});
  // A batch of one matrix broadcast with stride 0: read in place, gradients summed by expand.
  c.push_back({"matmul", "broadcast batch: [1,5,7]->[3,5,7] x [3,7,3]",
               [](Generator& g, DType dt) { return Inputs{randn_t(g, {1, 5, 7}, dt), randn_t(g, {3, 7, 3}, dt)}; },
               [](const Inputs& in) { return matmul(in[0].expand({3, 5, 7}), in[1]); }, {0, 1}});
  c.push_back(matmul_case("row x column [1,7] x [7,1]", [](Generator& g, DType dt) {
    return Inputs{randn_t(g, {1, 7}, dt), randn_t(g, {7, 1}, dt)};
  }));
  c.push_back(matmul_case("outer product [5,1] x [1,3]", [](Generator& g, DType dt) {
    return Inputs{randn_t(g, {5, 1}, dt), randn_t(g, {1, 3}, dt)};
  }));

  // ---- concat
  c.push_back({"concat", "3 inputs along dim 0: [2,3] [1,3] [4,3]",
               [](Generator& g, DType dt) {
                 return Inputs{randn_t(g, {2, 3}, dt), randn_t(g, {1, 3}, dt), randn_t(g, {4, 3}, dt)};
               },
               [](const Inputs& in) { return concat({in[0], in[1], in[2]}, 0); }, {0, 1, 2}});
  c.push_back({"concat", "3 inputs along dim 1: [2,3,2] [2,1,2] [2,4,2]",
               [](Generator& g, DType dt) {
                 return Inputs{randn_t(g, {2, 3, 2}, dt), randn_t(g, {2, 1, 2}, dt), randn_t(g, {2, 4, 2}, dt)};
               },
               [](const Inputs& in) { return concat({in[0], in[1], in[2]}, 1); }, {0, 1, 2}});
  c.push_back({"concat", "3 inputs along dim -1: [3,2] transposed view, [3,4], [3,1]",
               [](Generator& g, DType dt) {
                 return Inputs{randn_transposed(g, {3, 2}, dt), randn_t(g, {3, 4}, dt), randn_t(g, {3, 1}, dt)};
               },
               [](const Inputs& in) { return concat({in[0], in[1], in[2]}, -1); }, {0, 1, 2}});
  c.push_back({"concat", "the same input twice along dim 0 (gradients add)",
               [](Generator& g, DType dt) { return Inputs{randn_t(g, {2, 3}, dt)}; },
               [](const Inputs& in) { return concat({in[0], in[0]}, 0); }, {0}});

  // ---- stack
  c.push_back({"stack", "3 x [2,3] at dim 0",
               [](Generator& g, DType dt) {
                 return Inputs{randn_t(g, {2, 3}, dt), randn_t(g, {2, 3}, dt), randn_t(g, {2, 3}, dt)};
               },
               [](const Inputs& in) { return stack({in[0], in[1], in[2]}, 0); }, {0, 1, 2}});
  c.push_back({"stack", "3 x [2,3] at dim -1, one transposed",
               [](Generator& g, DType dt) {
                 return Inputs{randn_t(g, {2, 3}, dt), randn_transposed(g, {2, 3}, dt), randn_t(g, {2, 3}, dt)};
               },
               [](const Inputs& in) { return stack({in[0], in[1], in[2]}, -1); }, {0, 1, 2}});

  // ---- index_select: repeated indices, so one input row collects several gradient rows
  c.push_back({"index_select", "[5,3] dim 0, index {4,0,4,2,4}",
               [](Generator& g, DType dt) { return Inputs{randn_t(g, {5, 3}, dt), indices({4, 0, 4, 2, 4})}; },
               [](const Inputs& in) { return index_select(in[0], 0, in[1]); }, {0}});
  c.push_back({"index_select", "[3,5,2] dim 1, index {1,1,3,0,1}",
               [](Generator& g, DType dt) { return Inputs{randn_t(g, {3, 5, 2}, dt), indices({1, 1, 3, 0, 1})}; },
               [](const Inputs& in) { return index_select(in[0], 1, in[1]); }, {0}});
  c.push_back({"index_select", "[4,6] transposed view, dim -1, index {5,0,5}",
               [](Generator& g, DType dt) { return Inputs{randn_transposed(g, {4, 6}, dt), indices({5, 0, 5})}; },
               [](const Inputs& in) { return index_select(in[0], -1, in[1]); }, {0}});
  return c;
}

RegisterOps reg(cases());

}  // namespace
}  // namespace sc::test
