// Registry cases for the collectives with a gradient, on the local communicator (one rank):
// all_gather is then the identity and sync_batch_norm is batch_norm, so the float64 gradient
// check covers their backward code paths (the all-reduce of the gradient, the sync backward's
// correction term). tests/test_distributed.cpp checks two ranks against one process.
#include "tests/op_registry.h"

namespace sc::test {
namespace {

using Inputs = std::vector<Tensor>;

dist::Communicator& local() {
  static dist::CommunicatorPtr comm = dist::local_communicator();
  return *comm;
}

OpCase all_gather_case(const std::string& name, Shape s) {
  return {"all_gather", name, [s](Generator& g, DType dt) { return Inputs{randn_t(g, s, dt)}; },
          [](const Inputs& in) { return all_gather(in[0], local()); }, {0}};
}

// As the batch_norm cases: x, running_mean, running_var, weight, bias.
OpCase sync_batch_norm_case(const std::string& name, Shape x_shape, bool affine) {
  const int64_t C = x_shape[1];
  return {"sync_batch_norm", name,
          [x_shape, C, affine](Generator& g, DType dt) {
            Inputs in{add(mul(randn_t(g, x_shape, dt), 1.5), 0.5), randn_t(g, {C}, dt), rand_t(g, {C}, dt, 0.5, 2.0)};
            if (affine) {
              in.push_back(rand_t(g, {C}, dt, 0.5, 1.5));
              in.push_back(randn_t(g, {C}, dt));
            }
            return in;
          },
          [affine](const Inputs& in) {
            const Tensor weight = affine ? in[3] : Tensor(), bias = affine ? in[4] : Tensor();
            return sync_batch_norm(in[0], weight, bias, in[1], in[2], true, 0.1, 1e-5, local());
          },
          affine ? std::vector<int>{0, 3, 4} : std::vector<int>{0}};
}

const RegisterOps distributed_cases({
    all_gather_case("[3, 4]", {3, 4}),
    all_gather_case("[2, 3, 2, 2]", {2, 3, 2, 2}),
    sync_batch_norm_case("[6, 3] affine", {6, 3}, true),
    sync_batch_norm_case("[2, 3, 3, 2] affine", {2, 3, 3, 2}, true),
    sync_batch_norm_case("[4, 2, 2, 2] no affine", {4, 2, 2, 2}, false),
});

}  // namespace
}  // namespace sc::test
