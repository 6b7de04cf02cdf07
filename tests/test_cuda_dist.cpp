// Collectives on CUDA tensors. Without a GPU every case says so and passes.
//   - the local communicator (one rank) on CUDA buffers: all_gather's device copy and its
//     gradient, sync_batch_norm against batch_norm on the GPU;
//   - NCCL (dist/nccl.cpp), when the build has MPI and NCCL: a one-rank MPI job (MPI's
//     singleton start, no mpirun needed) runs all_reduce, all_gather and broadcast through it.
// bench/gpu_check.sh runs these on the GPU machine; several GPUs stay untested here.
#include <doctest/doctest.h>

#include "core/ops.h"
#include "dist/backends.h"
#include "dist/communicator.h"
#include "tests/cuda_test_util.h"

namespace sc::test {

TEST_CASE("cuda small: all_gather and sync_batch_norm on the local communicator match the CPU") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  dist::CommunicatorPtr local = dist::local_communicator();
  Generator gen(3);
  const Tensor x = randn({4, 3, 2, 2}, gen);
  const Tensor gathered = all_gather(x.to(Device::CUDA), *local);
  CHECK(max(abs(sub(gathered.to(Device::CPU), x))).item() == 0.0);
  const Tensor w = rand({3}, gen, DType::Float32, 0.5, 1.5), b = randn({3}, gen);
  Tensor rm = zeros({3}, DType::Float32, Device::CUDA), rv = ones({3}, DType::Float32, Device::CUDA);
  Tensor xg = x.to(Device::CUDA).requires_grad_();
  const Tensor y = sync_batch_norm(xg, w.to(Device::CUDA), b.to(Device::CUDA), rm, rv, true, 0.1, 1e-5, *local);
  sum(mul(y, y)).backward();
  Tensor xc = x.clone().requires_grad_();
  Tensor rmc = zeros({3}), rvc = ones({3});
  const Tensor yc = batch_norm(xc, w, b, rmc, rvc, true, 0.1, 1e-5);
  sum(mul(yc, yc)).backward();
  // float32 on two devices: 1e-5 relative, as the batch_norm CUDA tests.
  CHECK(max(abs(sub(y.to(Device::CPU), yc))).item() <= 1e-4);
  CHECK(max(abs(sub(xg.grad().to(Device::CPU), xc.grad()))).item() <= 1e-4);
  CHECK(max(abs(sub(rv.to(Device::CPU), rvc))).item() <= 1e-5);
}

TEST_CASE("cuda small: NCCL through a one-rank MPI job: all_reduce, all_gather, broadcast") {
  SC_SKIP_WITHOUT_CUDA();
  if (!dist::mpi_built() || !dist::detail::nccl_built()) {
    MESSAGE("SKIPPED (no NCCL backend): ", dist::mpi_built() ? dist::detail::nccl_unavailable_reason()
                                                             : dist::mpi_unavailable_reason());
    return;
  }
  dist::CommunicatorPtr world = dist::launched_by_mpi() ? dist::world() : dist::detail::mpi_world();
  if (world->world_size() != 1) {
    MESSAGE("SKIPPED: this case is for one rank; the job has ", world->world_size());
    return;
  }
  PoisonGuard poison;
  Tensor v = from_vector(std::vector<float>{1, 2, 3}, {3}).to(Device::CUDA);
  all_reduce_sum_(v, *world);
  broadcast_(v, *world, 0);
  const Tensor g = all_gather(v, *world);
  CHECK(g.to(Device::CPU).to_vector<float>() == std::vector<float>{1, 2, 3});
}

}  // namespace sc::test
