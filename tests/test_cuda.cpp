// CUDA device tests. Without a GPU (or without the CUDA backend) they skip and say why;
// the per-op CUDA-vs-CPU comparisons arrive with the CUDA backend.
#include <doctest/doctest.h>

#include "core/ops.h"

using namespace sc;

TEST_CASE("cuda: availability is reported, and CUDA tensors fail clearly without it") {
  if (!cuda_available()) {
    MESSAGE("SKIPPED: CUDA tests need a GPU: ", std::string(cuda_unavailable_reason()));
    CHECK_THROWS_AS(zeros({2}).to(Device::CUDA), Error);
    return;
  }
  MESSAGE("a CUDA device is present");
}
