// The CUDA runtime layer: availability, the caching allocator, copies between devices, and the
// switches (kernel path, per-launch sync). Tests that need a GPU skip on a machine without one
// and say why; the switches and the error messages are checked everywhere.
#include <doctest/doctest.h>

#include <cmath>

#include "core/ops.h"
#include "kernels/cuda_backend.h"
#include "tests/cuda_test_util.h"
#include "tests/test_util.h"

using namespace sc;
using namespace sc::test;
namespace kc = sc::kernels::cuda;

TEST_CASE("cuda: without a GPU, CUDA tensors fail with a clear error") {
  if (cuda_available()) {
    MESSAGE("a CUDA device is present: ", kc::device_description());
    return;
  }
  MESSAGE("SKIPPED (no GPU): ", std::string(cuda_unavailable_reason()));
  const std::string msg = message_of([] { zeros({2}).to(Device::CUDA); });
  CHECK(contains(msg, "to(cuda)"));
  CHECK(contains(msg, cuda_unavailable_reason()));
  CHECK_THROWS_AS(empty({3}, DType::Float32, Device::CUDA), Error);
}

TEST_CASE("cuda: the kernel path switch parses its names and rejects others") {
  CHECK(kc::parse_kernel_path("handwritten") == kc::KernelPath::Handwritten);
  CHECK(kc::parse_kernel_path("vendor") == kc::KernelPath::Vendor);
  const std::string msg = message_of([] { kc::parse_kernel_path("cudnn"); });
  CHECK(contains(msg, "'cudnn'"));
  CHECK(contains(msg, "handwritten"));
  CHECK(contains(msg, "vendor"));
  {
    KernelPathGuard guard(kc::KernelPath::Vendor);
    CHECK(kc::kernel_path() == kc::KernelPath::Vendor);
  }
  CHECK(std::string(kc::kernel_path_name(kc::KernelPath::Handwritten)) == "handwritten");
}

TEST_CASE("cuda: copies to the GPU and back keep every value, for every dtype") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  Generator gen(3);
  const Tensor f = randn({37, 5}, gen);
  CHECK(bitwise_equal(f.to(Device::CUDA).to(Device::CPU), f));
  const Tensor d = randn({3, 4, 5}, gen, DType::Float64);
  CHECK(bitwise_equal(d.to(Device::CUDA).to(Device::CPU), d));
  const Tensor i = from_vector(std::vector<int64_t>{-5, 0, 7, int64_t(1) << 40}, {4});
  CHECK(bitwise_equal(i.to(Device::CUDA).to(Device::CPU), i));
  // A strided (transposed) view is copied by value, not by storage.
  const Tensor t = f.transpose(0, 1);
  CHECK(bitwise_equal(t.to(Device::CUDA).to(Device::CPU), t.contiguous()));
  const Tensor empty_t = zeros({0, 3});
  CHECK(empty_t.to(Device::CUDA).to(Device::CPU).shape() == Shape{0, 3});
}

TEST_CASE("cuda: a gradient flows back through to(cuda)") {
  SC_SKIP_WITHOUT_CUDA();
  Generator gen(4);
  Tensor x = randn({6}, gen).requires_grad_();
  Tensor y = sum(x.to(Device::CUDA) * 3.0);
  y.backward();
  REQUIRE(x.grad().defined());
  CHECK(x.grad().device() == Device::CPU);
  for (float v : x.grad().to_vector<float>()) CHECK(v == 3.0f);
}

TEST_CASE("cuda: the caching allocator reuses blocks: a repeated step calls cudaMalloc no more") {
  SC_SKIP_WITHOUT_CUDA();
  Generator gen(5);
  const Tensor a = randn({256, 300}, gen).to(Device::CUDA);
  auto step = [&] {
    Tensor b = a * 2.0 + 1.0;  // temporaries of a few size classes
    Tensor c = relu(b) - a;
    return sum(c).item();
  };
  const double first = step();
  const kc::AllocatorStats before = kc::allocator_stats();
  for (int i = 0; i < 5; ++i) CHECK(step() == first);
  const kc::AllocatorStats after = kc::allocator_stats();
  CHECK(after.cuda_malloc_calls == before.cuda_malloc_calls);
  CHECK(after.cache_hits > before.cache_hits);
  CHECK(after.bytes_reserved >= memory_stats(Device::CUDA).bytes_in_use);
  kc::empty_cache();
  CHECK(kc::allocator_stats().bytes_cached == 0);
}

TEST_CASE("cuda: poisoned allocations read as NaN until written") {
  SC_SKIP_WITHOUT_CUDA();
  PoisonGuard poison;
  const Tensor raw = empty({8}, DType::Float32, Device::CUDA);
  for (float v : raw.to(Device::CPU).to_vector<float>()) CHECK(std::isnan(v));
  Tensor filled = empty({8}, DType::Float32, Device::CUDA);
  filled.fill_(1.5);
  for (float v : filled.to(Device::CPU).to_vector<float>()) CHECK(v == 1.5f);
}

TEST_CASE("cuda: memory stats count CUDA storage separately from the CPU") {
  SC_SKIP_WITHOUT_CUDA();
  const int64_t before = memory_stats(Device::CUDA).bytes_in_use;
  {
    const Tensor t = empty({1000}, DType::Float32, Device::CUDA);
    CHECK(memory_stats(Device::CUDA).bytes_in_use == before + 4000);
  }
  CHECK(memory_stats(Device::CUDA).bytes_in_use == before);
}

TEST_CASE("cuda: pinned host buffers can be allocated and freed") {
  SC_SKIP_WITHOUT_CUDA();
  void* p = kc::allocate_pinned(1 << 20);
  REQUIRE(p != nullptr);
  kc::free_pinned(p);
}

TEST_CASE("cuda: pinned CPU tensors: page-locked with a GPU, a clear error without one") {
  if (!cuda_available()) {
    const std::string msg = message_of([] { empty_pinned({4}); });
    CHECK(contains(msg, "pinned host memory"));
    CHECK(contains(msg, cuda_unavailable_reason()));
    return;
  }
  Tensor p = empty_pinned({3, 5});
  CHECK(p.device() == Device::CPU);
  CHECK(p.is_pinned());
  CHECK_FALSE(empty({3, 5}).is_pinned());
  Generator gen(9);
  p.copy_(randn({3, 5}, gen));
  // Usable like any CPU tensor, and copied to the GPU and back unchanged.
  CHECK(bitwise_equal(p.to(Device::CUDA).to(Device::CPU), p));
  CHECK(bitwise_equal(p * 2.0, p + p));
}
