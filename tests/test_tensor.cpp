// Tensor basics: creation, views sharing storage, copies, printing, bad input.
#include <doctest/doctest.h>

#include "core/ops.h"

using namespace sc;

TEST_CASE("tensor: creation functions") {
  Tensor z = zeros({2, 3});
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.dtype() == DType::Float32);
  CHECK(z.device() == Device::CPU);
  CHECK(z.is_contiguous());
  CHECK(sum(z).item() == 0.0);
  CHECK(sum(ones({4, 5}, DType::Float64)).item() == 20.0);
  CHECK(full({3}, 2.5).to_vector<float>() == std::vector<float>{2.5f, 2.5f, 2.5f});
  CHECK(arange(4).to_vector<float>() == std::vector<float>{0, 1, 2, 3});
  CHECK(arange(1.0, 2.0, 0.25, DType::Float64).to_vector<double>() == std::vector<double>{1.0, 1.25, 1.5, 1.75});
  CHECK(from_vector(std::vector<int64_t>{1, 2, 3, 4}, {2, 2}).dtype() == DType::Int64);
  CHECK(scalar_tensor(3.0).dim() == 0);
  CHECK(scalar_tensor(3.0).item() == 3.0);
}

TEST_CASE("tensor: random tensors come from the explicit generator") {
  Generator a(7), b(7), c(8);
  Tensor x = randn({100}, a), y = randn({100}, b), z = randn({100}, c);
  CHECK(x.to_vector<float>() == y.to_vector<float>());
  CHECK(x.to_vector<float>() != z.to_vector<float>());
  Tensor u = rand({10000}, a, DType::Float64, -1.0, 3.0);
  CHECK(max(u).item() < 3.0);
  CHECK(-max(neg(u)).item() >= -1.0);
  CHECK(mean(u).item() == doctest::Approx(1.0).epsilon(0.05));
  Tensor big = randn({20000}, a, DType::Float64);
  CHECK(mean(big).item() == doctest::Approx(0.0).epsilon(0.03).scale(1.0));
  CHECK(var(big).item() == doctest::Approx(1.0).epsilon(0.05));
}

TEST_CASE("tensor: views share storage, copies do not") {
  Tensor x = arange(12).reshape({3, 4});
  Tensor t = x.t();
  CHECK(t.shape() == Shape{4, 3});
  CHECK(!t.is_contiguous());
  CHECK(&t.storage() == &x.storage());
  Tensor row = x.narrow(0, 1, 1);
  row.fill_(-1.0);
  CHECK(x.to_vector<float>() == std::vector<float>{0, 1, 2, 3, -1, -1, -1, -1, 8, 9, 10, 11});
  CHECK(t.contiguous().to_vector<float>() == std::vector<float>{0, -1, 8, 1, -1, 9, 2, -1, 10, 3, -1, 11});
  Tensor c = x.clone();
  c.fill_(5.0);
  CHECK(x.to_vector<float>()[0] == 0.0f);
  Tensor e = from_vector(std::vector<float>{1, 2, 3}, {3, 1}).expand({3, 2});
  CHECK(e.strides() == Shape{1, 0});
  CHECK(e.contiguous().to_vector<float>() == std::vector<float>{1, 1, 2, 2, 3, 3});
  CHECK(x.unsqueeze(0).shape() == Shape{1, 3, 4});
  CHECK(x.unsqueeze(0).squeeze(0).shape() == Shape{3, 4});
  CHECK(permute(arange(24).reshape({2, 3, 4}), {2, 0, 1}).shape() == Shape{4, 2, 3});
  CHECK(arange(24).reshape({2, 3, 4}).flatten(1).shape() == Shape{2, 12});
}

TEST_CASE("tensor: dtype conversion and item") {
  Tensor x = from_vector(std::vector<double>{1.5, -2.25}, {2});
  CHECK(x.to(DType::Float32).to_vector<float>() == std::vector<float>{1.5f, -2.25f});
  CHECK(x.to(DType::Int64).to_vector<int64_t>() == std::vector<int64_t>{1, -2});
  CHECK_THROWS_AS(x.item(), Error);
}

TEST_CASE("tensor: printing is readable") {
  Tensor x = from_vector(std::vector<float>{1, 2, 3, 4}, {2, 2});
  const std::string s = x.to_string();
  CHECK(s.find("[[1, 2],") != std::string::npos);
  CHECK(s.find("float32[2, 2] on cpu") != std::string::npos);
  const std::string big = arange(100).to_string();
  CHECK(big.find("...") != std::string::npos);
}

TEST_CASE("tensor: bad input gets an sc::Error naming the op") {
  Tensor x = zeros({2, 3});
  auto message_of = [](auto f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(message_of([&] { x.reshape({4, 2}); }).find("reshape") != std::string::npos);
  CHECK(message_of([&] { x.t().view({6}); }).find("not contiguous") != std::string::npos);
  CHECK(message_of([&] { x.transpose(0, 2); }).find("transpose: dim 2 is out of range") != std::string::npos);
  CHECK(message_of([&] { x.narrow(1, 2, 2); }).find("narrow") != std::string::npos);
  CHECK(message_of([&] { x.expand({4, 3}); }).find("expand") != std::string::npos);
  CHECK(message_of([&] { add(x, zeros({3, 2})); }).find("add: shapes [2, 3] and [3, 2] cannot be broadcast") !=
        std::string::npos);
  CHECK(message_of([&] { add(x, zeros({2, 3}, DType::Float64)); }).find("add: dtypes differ") != std::string::npos);
  CHECK(message_of([&] { exp(zeros({2}, DType::Int64)); }).find("exp") != std::string::npos);
  CHECK(message_of([&] { x.expand({2, 3}).fill_(1.0); }).find("expanded") == std::string::npos);
  CHECK(message_of([&] { zeros({3, 1}).expand({3, 2}).fill_(1.0); }).find("expanded") != std::string::npos);
  CHECK(message_of([&] { Tensor u; u.shape(); }).find("undefined") != std::string::npos);
  CHECK(message_of([&] { permute(x, {0, 0}); }).find("repeats") != std::string::npos);
  CHECK(message_of([&] { from_vector(std::vector<float>{1, 2}, {3}); }).find("from_vector") != std::string::npos);
  CHECK(message_of([&] { empty({-1}); }).find("negative") != std::string::npos);
  CHECK(message_of([&] { var(zeros({1})); }).find("degrees of freedom") != std::string::npos);
  CHECK(message_of([&] { max(zeros({0})); }).find("no elements") != std::string::npos);
  CHECK(message_of([&] { sum(x, {0, 0}); }).find("twice") != std::string::npos);
  CHECK(message_of([&] { x.to(Device::CUDA); }).find("CUDA") != std::string::npos);
}

TEST_CASE("tensor: sizes that overflow or exceed the limits are refused") {
  CHECK_THROWS_WITH_AS(zeros({int64_t(1) << 62}), doctest::Contains("too large"), Error);
  CHECK_THROWS_WITH_AS(zeros({(int64_t(1) << 62) + 1, 4}), doctest::Contains("64 bits"), Error);
  CHECK_THROWS_WITH_AS(empty({int64_t(1) << 40, int64_t(1) << 40}), doctest::Contains("64 bits"), Error);
  CHECK_THROWS_WITH_AS(sum(ones({1}).expand({int64_t(1) << 62})), doctest::Contains("too large"), Error);
  // start + length would overflow here; the message shows both instead (UBSan caught the sum).
  CHECK_THROWS_WITH_AS(arange(4).narrow(0, 1, INT64_MAX),
                       doctest::Contains("narrow: start 1 and length 9223372036854775807 are out of range for dim 0 (size 4)"),
                       Error);
  CHECK_THROWS_WITH_AS(arange(4).narrow(0, INT64_MAX, 1), doctest::Contains("narrow: start"), Error);
  CHECK_THROWS_WITH_AS(arange(4).narrow(0, INT64_MIN, 1), doctest::Contains("narrow: start"), Error);
  CHECK_THROWS_WITH_AS(ones({1}).expand({-2}), doctest::Contains("expand"), Error);
  CHECK_THROWS_WITH_AS(arange(0.0, 1e300, 1.0), doctest::Contains("arange: [0, 1e+300) in steps of 1 has too many"), Error);
  CHECK_THROWS_WITH_AS(arange(-1.7e308, 1.7e308, 1e-300), doctest::Contains("too many elements"), Error);
  CHECK(ones({3, 1}).expand({-1, 4}).shape() == Shape{3, 4});  // -1 keeps the size, as PyTorch
  CHECK_THROWS_WITH_AS(ones({2}).reshape({1, 1, 1, 1, 1, 1, 1, 1, 2}), doctest::Contains("at most 8 dims"), Error);
  CHECK_THROWS_WITH_AS(squeeze(scalar_tensor(1.0), 5), doctest::Contains("out of range"), Error);
  CHECK_THROWS_WITH_AS(flatten(scalar_tensor(1.0), 7, -9), doctest::Contains("out of range"), Error);
  CHECK(zeros({3, 0}).numel() == 0);
  CHECK(sum(zeros({3, 0}), {1}).to_vector<float>() == std::vector<float>{0, 0, 0});
}

TEST_CASE("tensor: elementwise ops on long rows split across threads cover every element once") {
  // 100,003 contiguous elements coalesce into one row that the kernel cuts into pieces
  // (kernels/strided.h); an odd length leaves a short last piece.
  Generator gen(11);
  Tensor a = randn({100003}, gen), b = randn({100003}, gen);
  const auto va = a.to_vector<float>(), vb = b.to_vector<float>();
  const auto sum_ab = add(a, b).to_vector<float>();
  const auto relu_a = relu(a).to_vector<float>();
  for (size_t i = 0; i < va.size(); ++i) {
    REQUIRE(sum_ab[i] == va[i] + vb[i]);
    REQUIRE(relu_a[i] == (va[i] > 0 ? va[i] : 0.0f));
  }
  // A long row inside a strided (transposed) view as well.
  Tensor m = randn({3, 40001}, gen);
  const auto vm = m.to_vector<float>();
  const auto t = m.t().contiguous().to_vector<float>();
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 40001; j += 997) REQUIRE(t[j * 3 + i] == vm[i * 40001 + j]);
}

TEST_CASE("tensor: the method shortcuts are the free functions; ones_like, clamp_max and the scalar comparisons") {
  Generator gen(12);
  const Tensor x = rand({3, 4}, gen, DType::Float64, 0.5, 2.0);  // positive: log and sqrt are defined
  const Tensor w = randn({4, 2}, gen, DType::Float64);
  auto same = [](const Tensor& a, const Tensor& b) { return a.to_vector<double>() == b.to_vector<double>(); };
  CHECK(same(x.matmul(w), matmul(x, w)));
  CHECK(same(x.sum(), sum(x)));
  CHECK(same(x.sum({1}, true), sum(x, {1}, true)));
  CHECK(same(x.mean(), mean(x)));
  CHECK(same(x.mean({0}), mean(x, {0})));
  CHECK(same(x.relu(), relu(x)));
  CHECK(same(x.exp(), exp(x)));
  CHECK(same(x.log(), log(x)));
  CHECK(same(x.sqrt(), sqrt(x)));
  CHECK(same(x.abs(), abs(x)));
  CHECK(same(x.pow(3.0), pow(x, 3.0)));
  Tensor y = x.clone();
  CHECK(y.zero_().to_vector<double>() == std::vector<double>(12, 0.0));

  const Tensor o = ones_like(w);
  CHECK(o.shape() == w.shape());
  CHECK(o.dtype() == DType::Float64);
  CHECK(o.to_vector<double>() == std::vector<double>(8, 1.0));
  const Tensor v = from_vector(std::vector<float>{-1, 0.5f, 2, 3}, {4});
  CHECK(clamp_max(v, 1.0).to_vector<float>() == std::vector<float>{-1, 0.5f, 1, 1});
  CHECK(eq(v, 2.0).to_vector<float>() == std::vector<float>{0, 0, 1, 0});
  CHECK(lt(v, 2.0).to_vector<float>() == std::vector<float>{1, 1, 0, 0});
}

// Under AddressSanitizer large CPU blocks come from malloc, not from the block cache
// (core/storage.cpp): the cache tests have nothing to check there.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kLargeBlocksFromMalloc = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kLargeBlocksFromMalloc = true;
#else
constexpr bool kLargeBlocksFromMalloc = false;
#endif
#else
constexpr bool kLargeBlocksFromMalloc = false;
#endif

TEST_CASE("storage: large CPU blocks are reused by size from a cache, and released on request") {
  if (kLargeBlocksFromMalloc) return;
  release_cached_cpu_memory();
  REQUIRE(cached_cpu_memory() == 0);
  const int64_t n = (int64_t(3) << 20) / 4;  // 3 MiB of float32: above the 1 MiB threshold
  const void* first = nullptr;
  {
    Tensor a = zeros({n});
    first = a.data<float>();
    a.fill_(2.0);
  }
  CHECK(cached_cpu_memory() == size_t(3) << 20);  // freed into the cache, not unmapped
  {
    Tensor b = empty({n});
    CHECK(static_cast<const void*>(b.data<float>()) == first);  // the same block again
    CHECK(cached_cpu_memory() == 0);
    Tensor z = zeros({n});  // a reused block is written by the op like any other
    CHECK(sum(z).item() == 0.0);
  }
  {
    Tensor small = zeros({1000});  // small blocks come from malloc and never enter the cache
  }
  CHECK(cached_cpu_memory() == 2 * (size_t(3) << 20));
  CHECK(release_cached_cpu_memory() == 2 * (size_t(3) << 20));
  CHECK(cached_cpu_memory() == 0);
}

TEST_CASE("storage: the block cache never holds the process above the most that was ever in use") {
  if (kLargeBlocksFromMalloc) return;
  // The bound: blocks in use + cached <= the high-water mark of blocks in use. Freed blocks
  // may merge (pieces of one block, or mappings that lie side by side), so the checks are on
  // the cached bytes, which the bound fixes whatever the cache's ranges look like.
  release_cached_cpu_memory();  // also restarts the high-water mark from what is in use now
  const int64_t mib = int64_t(1) << 20;
  {
    Tensor a = empty({4 * mib / 4}), b = empty({4 * mib / 4});  // 8 MiB in use at once: the mark
  }
  CHECK(cached_cpu_memory() == size_t(8 * mib));
  {
    // 6 MiB: from the cache if a range fits (then 2 MiB or less stays cached), else newly
    // mapped after unmapping cached ranges down to 8 - 6 = 2 MiB.
    Tensor c = empty({6 * mib / 4});
    CHECK(cached_cpu_memory() <= size_t(2 * mib));
    Tensor d = empty({2 * mib / 4});  // 8 MiB in use: nothing may stay cached
    CHECK(cached_cpu_memory() == 0);
  }
  CHECK(cached_cpu_memory() == size_t(8 * mib));  // c and d wait in the cache
  {
    // A new peak (12 MiB at once) raises the mark.
    Tensor c = empty({6 * mib / 4}), d = empty({2 * mib / 4});
    CHECK(cached_cpu_memory() == 0);
    Tensor e = empty({4 * mib / 4});
    CHECK(cached_cpu_memory() == 0);
  }
  CHECK(cached_cpu_memory() == size_t(12 * mib));
  {
    Tensor f = empty({12 * mib / 4});  // fits the cache's 12 MiB if they merged, else mapped anew
    CHECK(cached_cpu_memory() == 0);   // either way nothing else may stay cached
    f.fill_(1.0);
    CHECK(sum(f).item() == static_cast<double>(f.numel()));
  }
  CHECK(cached_cpu_memory() == size_t(12 * mib));
  CHECK(release_cached_cpu_memory() == size_t(12 * mib));
}

TEST_CASE("storage: a cached range serves a smaller request from its head, and merges again when freed") {
  if (kLargeBlocksFromMalloc) return;
  release_cached_cpu_memory();
  const int64_t mib = int64_t(1) << 20;
  const char* block = nullptr;
  {
    Tensor a = empty({8 * mib / 4});
    block = reinterpret_cast<const char*>(a.data<float>());
  }
  CHECK(cached_cpu_memory() == size_t(8 * mib));
  {
    // 2 MiB: the head of the cached 8 MiB serves it and the other 6 MiB stay cached, then
    // serve a 6 MiB request exactly.
    Tensor small = empty({2 * mib / 4});
    CHECK(reinterpret_cast<const char*>(small.data<float>()) == block);
    CHECK(cached_cpu_memory() == size_t(6 * mib));
    Tensor tail = empty({6 * mib / 4});
    CHECK(reinterpret_cast<const char*>(tail.data<float>()) == block + 2 * mib);
    CHECK(cached_cpu_memory() == 0);
    small.fill_(2.0);  // each piece is memory of its own
    tail.fill_(3.0);
    CHECK(sum(small).item() == 2.0 * static_cast<double>(small.numel()));
    CHECK(sum(tail).item() == 3.0 * static_cast<double>(tail.numel()));
  }
  // Freed, the two pieces merge again: an 8 MiB request gets the whole block back.
  CHECK(cached_cpu_memory() == size_t(8 * mib));
  {
    Tensor whole = empty({8 * mib / 4});
    CHECK(reinterpret_cast<const char*>(whole.data<float>()) == block);
    CHECK(cached_cpu_memory() == 0);
  }
  CHECK(release_cached_cpu_memory() == size_t(8 * mib));
}
