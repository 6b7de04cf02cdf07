// CPU benchmarks of the engine's heaviest ops, through the public op API (so autograd
// overhead is included, as it is in the PyTorch peer, bench/torch_ops.py):
//   matmul      [n,n] x [n,n], forward                      flops = 2 n^3
//   conv2d      forward + backward (input, weight, bias)    flops = 3 * 2 N O C KH KW OH OW
// at the shapes of the ConvNet encoder with a batch of 512 images.
// Threads: SC_BENCH_THREADS (default: all cores). Run bench/cpu_bench.sh for the table.
#include <benchmark/benchmark.h>

#include <cstdlib>

#include "core/ops.h"

using namespace sc;

namespace {

int bench_threads() {
  const char* s = std::getenv("SC_BENCH_THREADS");
  return s ? std::atoi(s) : num_threads();
}

void BM_matmul(benchmark::State& state) {
  const int64_t n = state.range(0);
  Generator gen(1);
  Tensor a = randn({n, n}, gen), b = randn({n, n}, gen);
  for (auto _ : state) {
    Tensor c = matmul(a, b);
    benchmark::DoNotOptimize(c.raw_data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * n * n * n * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// Args: batch, in channels, out channels, height (= width); 3x3 kernel, padding 1.
void BM_conv2d_fwd_bwd(benchmark::State& state) {
  const int64_t n = state.range(0), c = state.range(1), o = state.range(2), hw = state.range(3);
  Generator gen(2);
  Tensor x = randn({n, c, hw, hw}, gen).requires_grad_();
  Tensor w = mul(randn({o, c, 3, 3}, gen), 0.1).detach().requires_grad_();
  Tensor bias = zeros({o}).requires_grad_();
  Tensor g = randn({n, o, hw, hw}, gen);
  Conv2dOptions opt;
  opt.pad_h = opt.pad_w = 1;
  for (auto _ : state) {
    Tensor y = conv2d(x, w, bias, opt);
    y.backward(g);
    x.zero_grad();
    w.zero_grad();
    bias.zero_grad();
  }
  const double fwd_flops = 2.0 * n * o * c * 9 * hw * hw;
  state.counters["GFLOP/s"] = benchmark::Counter(3.0 * fwd_flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

BENCHMARK(BM_matmul)->Arg(256)->Arg(512)->Arg(1024)->Arg(2048)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_conv2d_fwd_bwd)
    ->Args({512, 1, 32, 28})
    ->Args({512, 32, 64, 28})
    ->Args({512, 64, 128, 14})
    ->Args({512, 128, 256, 7})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(2.0);

int main(int argc, char** argv) {
  set_num_threads(bench_threads());
  benchmark::AddCustomContext("sc_threads", std::to_string(num_threads()));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
