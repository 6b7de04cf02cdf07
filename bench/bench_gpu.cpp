// bench_gpu: times the CUDA backend through the op API, one JSON line per measurement.
//
// Every row is timed with CUDA events on the stream the kernels run on: one warm-up call,
// then N timed calls (N chosen so a row takes a fraction of a second), each started with a
// cold L2 (a 256 MiB memset, outside the timed region, evicts what the last call left), and
// the median is reported. bench/torch_gpu.py times the same rows with PyTorch on the same GPU
// and bench/make_gpu_report.py puts both into one table.
//
// The napkin math for each row is written beside it: "bytes" is the fewest bytes the op must
// move through device memory (each input read once, each output written once), "flops" the
// arithmetic a direct algorithm does. GB/s = bytes / time and GFLOP/s = flops / time.
//
// Backward rows call the op's backward Node directly (y.grad_fn()->apply(dy)): only the op's
// own backward kernels are timed, not the copy autograd makes into a leaf's .grad (PyTorch's
// torch.autograd.grad in torch_gpu.py does the same). The NT-Xent and training-step rows
// time the whole loss.backward(), as a training loop runs it.
//
// Usage: bench_gpu [--quick] [--budget-s SECONDS] [--only group,group,...] [--out FILE]
//   --quick     fewer repeats (the re-run in bench/gpu_check.sh --quick)
//   --budget-s  start no new row after this many seconds (the rest print "skipped")
//   --only      run only these groups: copy elementwise batch_norm max_pool softmax gemm conv
//               nt_xent train_step augment
//   --out       write the JSON lines to FILE instead of stdout
// A readable line per row goes to stderr.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/augment.h"
#include "core/autograd.h"
#include "core/ops.h"
#include "core/storage.h"
#include "kernels/cuda/stream.h"
#include "kernels/cuda_backend.h"
#include "kernels/gemm.h"
#include "kernels/winograd.h"
#include "nn/adam.h"
#include "nn/convnet.h"
#include "nn/projection_head.h"

using namespace sc;
namespace kcuda = sc::kernels::cuda;

namespace {

// ---- small helpers ---------------------------------------------------------------------

void cuda_check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

// One JSON object built field by field: {"group": "gemm", "ms": 1.25, ...}.
class JsonLine {
 public:
  JsonLine& str(const std::string& key, const std::string& value) { return raw(key, "\"" + json_escape(value) + "\""); }
  JsonLine& num(const std::string& key, double value) {
    if (!std::isfinite(value)) return raw(key, "null");  // JSON has no inf or NaN
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6g", value);
    return raw(key, buf);
  }
  JsonLine& boolean(const std::string& key, bool value) { return raw(key, value ? "true" : "false"); }
  std::string text() const { return "{" + body_ + "}"; }

 private:
  JsonLine& raw(const std::string& key, const std::string& value) {
    if (!body_.empty()) body_ += ", ";
    body_ += "\"" + json_escape(key) + "\": " + value;
    return *this;
  }
  std::string body_;
};

// A float32 tensor on the GPU holding values in [-1, 1) from a cheap hash of the index:
// random enough for timing (no zeros, both signs for relu and max-pool), and quick to
// make even at 256M elements, where drawing normals on one CPU thread would take seconds.
Tensor pattern(const Shape& shape, uint64_t seed) {
  Tensor cpu = empty(shape);
  float* p = cpu.data<float>();
  const int64_t n = cpu.numel();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    uint64_t h = (static_cast<uint64_t>(i) + 1) * 0x9E3779B97F4A7C15ull ^ (seed * 0xBF58476D1CE4E5B9ull);
    h ^= h >> 31;
    h *= 0x94D049BB133111EBull;
    h ^= h >> 29;
    p[i] = static_cast<float>(static_cast<double>(h >> 40) / static_cast<double>(1ull << 24) * 2.0 - 1.0);
  }
  return cpu.to(Device::CUDA);
}

// The same pattern on the GPU, as a leaf that collects a gradient.
Tensor pattern_leaf(const Shape& shape, uint64_t seed) {
  Tensor t = pattern(shape, seed);
  t.requires_grad_();
  return t;
}

// Sets the kernel path (and GEMM rung) for a scope and restores the previous one after.
struct PathScope {
  kcuda::KernelPath before = kcuda::kernel_path();
  explicit PathScope(kcuda::KernelPath path) { kcuda::set_kernel_path(path); }
  ~PathScope() { kcuda::set_kernel_path(before); }
};
struct RungScope {
  kcuda::GemmRung before = kcuda::gemm_rung();
  explicit RungScope(kcuda::GemmRung rung) { kcuda::set_gemm_rung(rung); }
  ~RungScope() { kcuda::set_gemm_rung(before); }
};

// Raw device memory from the caching allocator, given back when the scope ends.
struct DeviceMemory {
  void* ptr;
  explicit DeviceMemory(size_t nbytes) : ptr(kcuda::allocate(nbytes)) {}
  ~DeviceMemory() { kcuda::deallocate(ptr); }
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
};

// ---- timing ----------------------------------------------------------------------------

struct Timing {
  double median_ms = 0;
  double min_ms = 0;
  int repeats = 0;
};

class GpuTimer {
 public:
  explicit GpuTimer(bool quick) : quick_(quick), flush_(kFlushBytes) {
    cuda_check(cudaEventCreate(&start_), "cudaEventCreate");
    cuda_check(cudaEventCreate(&stop_), "cudaEventCreate");
  }
  ~GpuTimer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  GpuTimer(const GpuTimer&) = delete;
  GpuTimer& operator=(const GpuTimer&) = delete;

  // Median time of `body` on the GPU. `before` runs untimed ahead of each call (to build a
  // graph a backward call consumes, say). With flush_l2, each call starts with a cold L2.
  Timing time(const std::function<void()>& body, const std::function<void()>& before = nullptr, bool flush_l2 = true) {
    auto one_call = [&]() {
      if (before) before();
      if (flush_l2)
        cuda_check(cudaMemsetAsync(flush_.ptr, ++flush_value_ & 0xFF, kFlushBytes, kcuda::stream()), "L2 flush");
      cuda_check(cudaEventRecord(start_, kcuda::stream()), "cudaEventRecord");
      body();
      cuda_check(cudaEventRecord(stop_, kcuda::stream()), "cudaEventRecord");
      cuda_check(cudaEventSynchronize(stop_), "cudaEventSynchronize");
      float ms = 0;
      cuda_check(cudaEventElapsedTime(&ms, start_, stop_), "cudaEventElapsedTime");
      return static_cast<double>(ms);
    };
    // Warm-up: first-call costs (cuBLAS / cuDNN plans, the allocator's first blocks) stay out.
    const double first_ms = one_call();
    kcuda::synchronize();
    // Enough calls to fill the row's time target, within [min, max] calls.
    const double target_ms = quick_ ? 120.0 : 400.0;
    const int min_calls = quick_ ? 3 : 5, max_calls = quick_ ? 15 : 50;
    const int calls = std::clamp(static_cast<int>(target_ms / std::max(first_ms, 1e-3)), min_calls, max_calls);
    std::vector<double> ms;
    for (int i = 0; i < calls; ++i) ms.push_back(one_call());
    std::sort(ms.begin(), ms.end());
    Timing t;
    t.repeats = calls;
    t.min_ms = ms.front();
    t.median_ms = calls % 2 ? ms[calls / 2] : 0.5 * (ms[calls / 2 - 1] + ms[calls / 2]);
    return t;
  }

 private:
  // Larger than the L2 of any current GPU (50 MB on the H100, 60 MB on the H200).
  static constexpr size_t kFlushBytes = size_t{256} << 20;
  bool quick_;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
  DeviceMemory flush_;
  int flush_value_ = 0;
};

// ---- the rows --------------------------------------------------------------------------

// What a row reports besides its time: the work done (one of bytes or flops) and any extra
// numbers (views per second, peak memory).
struct Measurement {
  Timing timing;
  double bytes = 0;
  double flops = 0;
  std::vector<std::pair<std::string, double>> extra;
};

struct Options {
  bool quick = false;
  double budget_s = 1e9;
  std::set<std::string> only;
  std::string out;  // empty: stdout
};

// Where the JSON lines go (stdout, or the --out file).
FILE* g_json = stdout;

void print_json(const JsonLine& line) {
  std::fprintf(g_json, "%s\n", line.text().c_str());
  std::fflush(g_json);
}

// Runs rows, each in a try/catch (a failure prints an "error" row and the next row runs), and
// skips rows once the time budget is spent.
class Bench {
 public:
  explicit Bench(const Options& options)
      : options_(options), timer_(options.quick), started_(std::chrono::steady_clock::now()) {}

  GpuTimer& timer() { return timer_; }
  bool quick() const { return options_.quick; }
  bool wants(const std::string& group) const { return options_.only.empty() || options_.only.count(group) > 0; }

  void row(const std::string& group, const std::string& name, const std::string& impl,
           const std::function<Measurement()>& measure) {
    JsonLine line;
    line.str("group", group).str("case", name).str("impl", impl);
    if (elapsed_s() > options_.budget_s) {
      line.str("skipped", "time budget");
      emit(line, group + " " + name + " [" + impl + "]: skipped (time budget)");
      return;
    }
    try {
      const Measurement m = measure();
      const double ms = m.timing.median_ms;
      line.num("ms", ms).num("min_ms", m.timing.min_ms).num("repeats", m.timing.repeats);
      std::ostringstream readable;
      readable << group << " " << name << " [" << impl << "]: " << ms << " ms";
      if (m.bytes > 0) {
        const double gbps = m.bytes / (ms * 1e-3) / 1e9;
        line.num("bytes", m.bytes).num("gbps", gbps);
        readable << ", " << gbps << " GB/s";
      }
      if (m.flops > 0) {
        const double gflops = m.flops / (ms * 1e-3) / 1e9;
        line.num("flops", m.flops).num("gflops", gflops);
        readable << ", " << gflops << " GFLOP/s";
      }
      for (const auto& [key, value] : m.extra) {
        line.num(key, value);
        readable << ", " << key << " " << value;
      }
      emit(line, readable.str());
    } catch (const std::exception& e) {
      line.str("error", e.what());
      emit(line, group + " " + name + " [" + impl + "]: ERROR " + e.what());
    }
    // Give the cached blocks of a big row back, so the next row starts from a small pool.
    try {
      kcuda::empty_cache();
    } catch (const std::exception&) {
    }
  }

 private:
  double elapsed_s() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  }
  static void emit(const JsonLine& line, const std::string& readable) {
    print_json(line);
    std::fprintf(stderr, "%s\n", readable.c_str());
  }

  Options options_;
  GpuTimer timer_;
  std::chrono::steady_clock::time_point started_;
};

// The ceiling for every memory-bound row: a device-to-device copy of 1 GiB.
void bench_copy(Bench& bench) {
  bench.row("copy", "cudaMemcpy D2D 1 GiB", "cuda", [&] {
    const size_t nbytes = size_t{1} << 30;
    DeviceMemory src(nbytes), dst(nbytes);
    Measurement m;
    m.timing = bench.timer().time([&] { kcuda::copy_device_to_device(dst.ptr, src.ptr, nbytes); });
    m.bytes = 2.0 * static_cast<double>(nbytes);  // each byte read once and written once
    return m;
  });
}

void bench_elementwise(Bench& bench) {
  const int64_t n = int64_t{1} << 28;  // 256M floats, 1 GiB per tensor
  NoGradGuard no_grad;
  bench.row("elementwise", "add 256M", "handwritten", [&] {
    Tensor a = pattern({n}, 1), b = pattern({n}, 2);
    Measurement m;
    m.timing = bench.timer().time([&] { Tensor c = add(a, b); });
    m.bytes = 3.0 * 4 * static_cast<double>(n);  // read a and b, write c
    return m;
  });
  bench.row("elementwise", "relu 256M", "handwritten", [&] {
    Tensor a = pattern({n}, 3);
    Measurement m;
    m.timing = bench.timer().time([&] { Tensor c = relu(a); });
    m.bytes = 2.0 * 4 * static_cast<double>(n);  // read x, write y
    return m;
  });
}

void bench_batch_norm(Bench& bench) {
  const Shape shape{512, 64, 28, 28};
  const double n = static_cast<double>(shape_numel(shape));
  for (const auto path : {kcuda::KernelPath::Handwritten, kcuda::KernelPath::Vendor}) {
    const std::string impl = path == kcuda::KernelPath::Handwritten ? "handwritten" : "cudnn";
    auto make = [&](Tensor& x, Tensor& w, Tensor& b, Tensor& rm, Tensor& rv) {
      x = pattern_leaf(shape, 4);
      w = ones({64}).to(Device::CUDA);
      w.requires_grad_();
      b = zeros({64}).to(Device::CUDA);
      b.requires_grad_();
      rm = zeros({64}).to(Device::CUDA);
      rv = ones({64}).to(Device::CUDA);
    };
    bench.row("batch_norm", "forward train [512,64,28,28]", impl, [&] {
      PathScope scope(path);
      Tensor x, w, b, rm, rv;
      make(x, w, b, rm, rv);
      Measurement m;
      m.timing = bench.timer().time([&] { Tensor y = batch_norm(x, w, b, rm, rv, /*training=*/true); });
      m.bytes = 2.0 * 4 * n;  // read x, write y (the statistics are [C]: negligible)
      return m;
    });
    bench.row("batch_norm", "backward train [512,64,28,28]", impl, [&] {
      PathScope scope(path);
      Tensor x, w, b, rm, rv;
      make(x, w, b, rm, rv);
      Tensor y = batch_norm(x, w, b, rm, rv, /*training=*/true);
      Tensor dy = pattern(shape, 5);
      Measurement m;
      m.timing = bench.timer().time([&] {
        NoGradGuard no_grad;
        std::vector<Tensor> grads = y.grad_fn()->apply(dy);
      });
      m.bytes = 3.0 * 4 * n;  // read x and dy, write dx
      return m;
    });
  }
}

void bench_max_pool(Bench& bench) {
  const Shape shape{512, 64, 28, 28};
  const double n = static_cast<double>(shape_numel(shape));
  Pool2dOptions options;  // 2x2, stride 2
  // Forward: read x (4n bytes), write y and its int32 argmax (n/4 outputs: n + n bytes).
  bench.row("max_pool", "forward 2x2 [512,64,28,28]", "handwritten", [&] {
    Tensor x = pattern_leaf(shape, 6);
    Measurement m;
    m.timing = bench.timer().time([&] { Tensor y = max_pool2d(x, options); });
    m.bytes = 6.0 * n;
    return m;
  });
  // Backward: read dy and argmax (n + n bytes), write dx (4n bytes).
  bench.row("max_pool", "backward 2x2 [512,64,28,28]", "handwritten", [&] {
    Tensor x = pattern_leaf(shape, 6);
    Tensor y = max_pool2d(x, options);
    Tensor dy = pattern(y.shape(), 7);
    Measurement m;
    m.timing = bench.timer().time([&] {
      NoGradGuard no_grad;
      std::vector<Tensor> grads = y.grad_fn()->apply(dy);
    });
    m.bytes = 6.0 * n;
    return m;
  });
}

void bench_softmax(Bench& bench) {
  const int64_t rows = 65536, classes = 1024;
  const double n = static_cast<double>(rows * classes);
  bench.row("softmax", "softmax forward [65536,1024]", "handwritten", [&] {
    Tensor x = pattern_leaf({rows, classes}, 8);
    Measurement m;
    m.timing = bench.timer().time([&] { Tensor y = softmax(x, 1); });
    m.bytes = 2.0 * 4 * n;  // read x, write y
    return m;
  });
  bench.row("softmax", "softmax backward [65536,1024]", "handwritten", [&] {
    Tensor x = pattern_leaf({rows, classes}, 8);
    Tensor y = softmax(x, 1);
    Tensor dy = pattern({rows, classes}, 9);
    Measurement m;
    m.timing = bench.timer().time([&] {
      NoGradGuard no_grad;
      std::vector<Tensor> grads = y.grad_fn()->apply(dy);
    });
    m.bytes = 3.0 * 4 * n;  // read y and dy, write dx
    return m;
  });
  auto targets = [&] {
    std::vector<int64_t> labels(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) labels[static_cast<size_t>(r)] = (r * 7919) % classes;
    return from_vector(labels, {rows}).to(Device::CUDA);
  };
  bench.row("softmax", "cross_entropy forward [65536,1024]", "handwritten", [&] {
    Tensor x = pattern_leaf({rows, classes}, 10);
    Tensor t = targets();
    Measurement m;
    m.timing = bench.timer().time([&] { Tensor loss = cross_entropy(x, t); });
    m.bytes = 4.0 * n;  // read the logits (the targets and the scalar loss are negligible)
    return m;
  });
  bench.row("softmax", "cross_entropy backward [65536,1024]", "handwritten", [&] {
    Tensor x = pattern_leaf({rows, classes}, 10);
    Tensor t = targets();
    Tensor loss = cross_entropy(x, t);
    Tensor one = ones({}).to(Device::CUDA);
    Measurement m;
    m.timing = bench.timer().time([&] {
      NoGradGuard no_grad;
      std::vector<Tensor> grads = loss.grad_fn()->apply(one);
    });
    m.bytes = 2.0 * 4 * n;  // read the logits, write their gradient
    return m;
  });
}

void bench_gemm(Bench& bench) {
  // The hand-written ladder, slowest to fastest (kernels/gemm.h), then cuBLAS.
  const kcuda::GemmRung rungs[] = {kcuda::GemmRung::Naive, kcuda::GemmRung::SharedTiled,
                                   kcuda::GemmRung::RegisterBlocked, kcuda::GemmRung::WarpTiled};
  NoGradGuard no_grad;
  for (const int64_t size : {1024, 2048, 4096}) {
    const std::string name = "sgemm " + std::to_string(size);
    const double flops = 2.0 * static_cast<double>(size) * static_cast<double>(size) * static_cast<double>(size);
    auto measure = [&](kcuda::KernelPath path, const kcuda::GemmRung* rung) {
      PathScope scope(path);
      std::unique_ptr<RungScope> rung_scope;
      if (rung) rung_scope = std::make_unique<RungScope>(*rung);
      Tensor a = pattern({size, size}, 11), b = pattern({size, size}, 12);
      Measurement m;
      m.timing = bench.timer().time([&] { Tensor c = matmul(a, b); });
      m.flops = flops;  // M * N * K multiply-adds
      return m;
    };
    for (const kcuda::GemmRung& rung : rungs)
      bench.row("gemm", name, kcuda::gemm_rung_name(rung),
                [&] { return measure(kcuda::KernelPath::Handwritten, &rung); });
    bench.row("gemm", name, "cublas", [&] { return measure(kcuda::KernelPath::Vendor, nullptr); });
    // The tensor-core pairs: our TF32 and BF16 rungs and cuBLAS allowed the same rounding of
    // the inputs, compared with each other, not with the exact FP32 rows above.
    for (const kcuda::GemmRung rung : {kcuda::GemmRung::TensorCoreTF32, kcuda::GemmRung::TensorCoreBF16}) {
      const bool tf32 = rung == kcuda::GemmRung::TensorCoreTF32;
      bench.row("gemm", name, kcuda::gemm_rung_name(rung), [&] { return measure(kcuda::KernelPath::Handwritten, &rung); });
      bench.row("gemm", name, tf32 ? "cublas tf32" : "cublas bf16", [&] {
        auto allow = [tf32](bool on) { tf32 ? kcuda::set_allow_tf32(on) : kcuda::set_allow_bf16(on); };
        allow(true);
        try {
          Measurement m = measure(kcuda::KernelPath::Vendor, nullptr);
          allow(false);
          return m;
        } catch (...) {
          allow(false);
          throw;
        }
      });
    }
  }
}

void bench_conv(Bench& bench) {
  struct ConvCase {
    int64_t size, in_channels, out_channels;
  };
  const ConvCase cases[] = {{28, 1, 32}, {28, 32, 64}, {14, 64, 128}, {7, 128, 256}};
  const int64_t batch = 512;
  Conv2dOptions options;
  options.pad_h = options.pad_w = 1;
  for (const ConvCase& c : cases) {
    const std::string shape = std::to_string(c.size) + "x" + std::to_string(c.size) + " " +
                              std::to_string(c.in_channels) + "->" + std::to_string(c.out_channels);
    // Forward: 2 * N * O * OH * OW * C * 3 * 3 (pad 1 keeps OH = H); the backward computes
    // the input gradient and the weight gradient, each as much work as the forward.
    const double forward_flops = 2.0 * batch * c.out_channels * c.size * c.size * c.in_channels * 9;
    auto inputs = [&](Tensor& x, Tensor& w) {
      x = pattern_leaf({batch, c.in_channels, c.size, c.size}, 13);
      w = pattern_leaf({c.out_channels, c.in_channels, 3, 3}, 14);
    };
    auto forward = [&] {
      Tensor x, w;
      inputs(x, w);
      Measurement m;
      m.timing = bench.timer().time([&] { Tensor y = conv2d(x, w, Tensor(), options); });
      m.flops = forward_flops;
      return m;
    };
    auto backward = [&] {
      Tensor x, w;
      inputs(x, w);
      Tensor y = conv2d(x, w, Tensor(), options);
      Tensor dy = pattern(y.shape(), 15);
      Measurement m;
      m.timing = bench.timer().time([&] {
        NoGradGuard no_grad;
        std::vector<Tensor> grads = y.grad_fn()->apply(dy);
      });
      m.flops = 2.0 * forward_flops;
      return m;
    };
    // Runs a measurement with one kernel path, and optionally with Winograd (SC_CUDA_CONV=
    // winograd: F(2x2, 3x3) for the forward and the input gradient, F(3x3, 2x2) for the weight
    // gradient). "flops" stays the direct count, so GFLOP/s compare like for like (Winograd
    // itself multiplies 2.25x less).
    auto with = [&](kcuda::KernelPath path, bool winograd, const std::function<Measurement()>& measure) {
      PathScope scope(path);
      const kcuda::ConvAlgo before = kcuda::conv_algo();
      kcuda::set_conv_algo(winograd ? kcuda::ConvAlgo::Winograd : kcuda::ConvAlgo::ImplicitGemm);
      try {
        Measurement m = measure();
        kcuda::set_conv_algo(before);
        return m;
      } catch (...) {
        kcuda::set_conv_algo(before);
        throw;
      }
    };
    struct Impl {
      const char* name;
      kcuda::KernelPath path;
      bool winograd;
    };
    for (const Impl& impl : {Impl{"handwritten", kcuda::KernelPath::Handwritten, false},
                             Impl{"winograd", kcuda::KernelPath::Handwritten, true},
                             Impl{"cudnn", kcuda::KernelPath::Vendor, false}}) {
      bench.row("conv", shape + " forward", impl.name, [&] { return with(impl.path, impl.winograd, forward); });
      bench.row("conv", shape + " backward", impl.name, [&] { return with(impl.path, impl.winograd, backward); });
    }
  }
}

// NT-Xent forward + backward (the whole loss.backward()), and the memory it needs beyond
// its input: the peak of the engine's tensors during one call, and how much the caching
// allocator had to grow (which also counts a kernel's scratch buffers).
void bench_nt_xent(Bench& bench) {
  const int64_t d = 128;
  for (const int64_t rows : {512, 2048, 8192}) {
    bench.row("nt_xent", "2N=" + std::to_string(rows) + " d=128", "fused", [&] {
      Tensor z = pattern_leaf({rows, d}, 16);
      auto step = [&] {
        z.zero_grad();
        Tensor loss = nt_xent(z, 0.5);
        loss.backward();
      };
      step();  // warm-up, outside the memory measurement
      kcuda::synchronize();
      kcuda::empty_cache();
      const int64_t reserved_before = kcuda::allocator_stats().bytes_reserved;
      const int64_t in_use_before = memory_stats(Device::CUDA).bytes_in_use;
      reset_peak_memory(Device::CUDA);
      step();
      kcuda::synchronize();
      const double peak_extra = static_cast<double>(memory_stats(Device::CUDA).peak_bytes - in_use_before);
      const double reserved_growth = static_cast<double>(kcuda::allocator_stats().bytes_reserved - reserved_before);
      Measurement m;
      m.timing = bench.timer().time(step);
      // The fewest: one rows x rows x d GEMM forward (S = z z^T) and one backward
      // ((dS + dS^T) z); a kernel that recomputes S in the backward does a third.
      m.flops = 2.0 * 2.0 * static_cast<double>(rows) * static_cast<double>(rows) * static_cast<double>(d);
      m.extra = {{"peak_extra_bytes", peak_extra}, {"reserved_growth_bytes", reserved_growth}};
      return m;
    });
  }
}

// One SimCLR training step: ConvNet w = 32 (1 input channel) + the 2-layer projection head
// (256 -> 256 -> 128, as ssl/simclr.cpp builds it), NT-Xent at temperature 0.5, Adam, on a
// batch of 512 views 1x28x28 (256 pairs). Steps run back to back (no L2 flush).
void bench_train_step(Bench& bench) {
  constexpr int64_t kViews = 512;
  for (const auto path : {kcuda::KernelPath::Handwritten, kcuda::KernelPath::Vendor}) {
    const std::string impl = path == kcuda::KernelPath::Handwritten ? "handwritten" : "vendor";
    bench.row("train_step", "ConvNet w=32 + head, 512 views 1x28x28", impl, [&] {
      PathScope scope(path);
      Generator gen(2024);
      auto model = std::make_shared<nn::Sequential>();
      auto encoder = model->push_back(std::make_shared<nn::ConvNet>(gen, /*width=*/32, /*in_channels=*/1));
      nn::ProjectionHeadOptions head_options;
      head_options.in_dim = encoder->feature_dim();
      head_options.hidden_dim = encoder->feature_dim();
      head_options.out_dim = 128;
      model->push_back(std::make_shared<nn::ProjectionHead>(head_options, gen));
      model->to(Device::CUDA);
      model->train();
      nn::ParamGroup group;
      for (const auto& [name, parameter] : model->named_parameters()) {
        group.names.push_back(name);
        group.params.push_back(parameter);
      }
      group.lr = 1e-3;
      group.weight_decay = 1e-6;
      nn::Adam adam({group});
      Tensor views = pattern({kViews, 1, 28, 28}, 17);
      auto step = [&] {
        adam.zero_grad();
        Tensor loss = nt_xent(model->forward(views), 0.5);
        loss.backward();
        adam.step();
      };
      step();  // the first step creates Adam's state and the allocator's blocks
      Measurement m;
      m.timing = bench.timer().time(step, nullptr, /*flush_l2=*/false);
      const double seconds = m.timing.median_ms * 1e-3;
      m.extra = {{"views_per_s", kViews / seconds}, {"pairs_per_s", kViews / 2 / seconds}};
      return m;
    });
  }
}

// Plans with the step mix of the simclr presets (augment/presets.cpp), made here because this
// program links core only: a random crop window resized back to the image size, a flip half
// the time, then 80% of the time brightness and contrast (and for RGB saturation and hue),
// and for RGB a grayscale 20% of the time. View v starts from image v % images.
std::vector<AugmentPlan> simclr_like_plans(int64_t views, int64_t images, int64_t c, int64_t size, uint64_t seed) {
  Generator gen(seed);
  std::vector<AugmentPlan> plans(static_cast<size_t>(views));
  for (int64_t v = 0; v < views; ++v) {
    AugmentPlan& p = plans[static_cast<size_t>(v)];
    p.source = static_cast<int32_t>(v % images);
    p.channels = static_cast<int32_t>(c);
    p.in_height = p.in_width = p.out_height = p.out_width = static_cast<int32_t>(size);
    p.max_plane = static_cast<int32_t>(size * size);
    auto add = [&p](const AugmentStep& s) { p.steps[p.num_steps++] = s; };
    AugmentStep crop;
    crop.kind = AugmentStepKind::ResizedCrop;
    crop.height = static_cast<int32_t>(size / 2 + gen.below(static_cast<uint64_t>(size / 2 + 1)));
    crop.width = static_cast<int32_t>(size / 2 + gen.below(static_cast<uint64_t>(size / 2 + 1)));
    crop.top = static_cast<int32_t>(gen.below(static_cast<uint64_t>(size - crop.height + 1)));
    crop.left = static_cast<int32_t>(gen.below(static_cast<uint64_t>(size - crop.width + 1)));
    crop.out_height = crop.out_width = static_cast<int32_t>(size);
    add(crop);
    if (gen.uniform() < 0.5) {
      AugmentStep flip;
      flip.kind = AugmentStepKind::HorizontalFlip;
      add(flip);
    }
    if (gen.uniform() < 0.8) {
      std::vector<BlendWith> blends = {BlendWith::Black, BlendWith::MeanLuma};
      if (c == 3) blends.push_back(BlendWith::PixelLuma);
      for (const BlendWith with : blends) {
        AugmentStep s;
        s.kind = AugmentStepKind::Blend;
        s.blend_with = with;
        s.blend_self = static_cast<float>(0.6 + 0.8 * gen.uniform());
        s.blend_other = 1.0f - s.blend_self;
        add(s);
      }
      if (c == 3) {
        AugmentStep hue;
        hue.kind = AugmentStepKind::Hue;
        hue.hue_shift = static_cast<float>(-0.1 + 0.2 * gen.uniform());
        add(hue);
      }
    }
    if (c == 3 && gen.uniform() < 0.2) {
      AugmentStep gray;
      gray.kind = AugmentStepKind::Grayscale;
      add(gray);
    }
  }
  return plans;
}

// Making the views of one training step (--augment-device cuda): 512 views of 256 images, from
// the uint8 images and the plans on the host, as the trainer calls it, so the GPU row includes
// the copies of images and plans to the device. The CPU row is the reference runner on one
// thread (the loader runs one such batch per worker), timed by the same events: the stream is
// idle meanwhile, so they measure the host's wall time.
void bench_augment(Bench& bench) {
  constexpr int64_t kViews = 512, kImages = 256;
  for (const int64_t c : {int64_t{1}, int64_t{3}}) {
    const int64_t size = c == 1 ? 28 : 32;
    const std::string name = std::string(c == 1 ? "simclr-gray-like" : "simclr-rgb-like") + ", 512 views " + std::to_string(c) +
                             "x" + std::to_string(size) + "x" + std::to_string(size);
    std::vector<uint8_t> images(static_cast<size_t>(kImages * c * size * size));
    Generator gen(5);
    for (uint8_t& b : images) b = static_cast<uint8_t>(gen.below(256));
    const std::vector<AugmentPlan> plans = simclr_like_plans(kViews, kImages, c, size, 11);
    for (const Device device : {Device::CUDA, Device::CPU}) {
      bench.row("augment", name, device == Device::CUDA ? "cuda" : "cpu runner, 1 thread", [&] {
        Measurement m;
        m.timing = bench.timer().time([&] { Tensor views = augment_views(images, kImages, c, size, size, plans, device); },
                                      nullptr, /*flush_l2=*/false);
        m.extra = {{"views_per_s", kViews / (m.timing.median_ms * 1e-3)}};
        return m;
      });
    }
  }
}

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--quick") {
      options.quick = true;
    } else if (arg == "--budget-s" && i + 1 < argc) {
      options.budget_s = std::atof(argv[++i]);
    } else if (arg == "--out" && i + 1 < argc) {
      options.out = argv[++i];
    } else if (arg == "--only" && i + 1 < argc) {
      std::stringstream list(argv[++i]);
      for (std::string group; std::getline(list, group, ',');)
        if (!group.empty()) options.only.insert(group);
    } else {
      throw std::runtime_error("unknown argument '" + arg +
                               "' (usage: bench_gpu [--quick] [--budget-s SECONDS] [--only group,group] [--out FILE])");
    }
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options options = parse_options(argc, argv);
    if (!options.out.empty()) {
      g_json = std::fopen(options.out.c_str(), "w");
      if (!g_json) throw std::runtime_error("cannot write " + options.out);
    }
    if (!cuda_available()) {
      std::fprintf(stderr, "bench_gpu: no GPU: %s\n", cuda_unavailable_reason());
      print_json(JsonLine().str("group", "meta").str("error", cuda_unavailable_reason()));
      return 1;
    }
    print_json(JsonLine()
                   .str("group", "meta")
                   .str("impl", "simclr.cpp")
                   .str("device", kcuda::device_description())
                   .boolean("quick", options.quick));
    Bench bench(options);
    const std::vector<std::pair<std::string, void (*)(Bench&)>> groups = {
        {"copy", bench_copy},         {"elementwise", bench_elementwise}, {"batch_norm", bench_batch_norm},
        {"max_pool", bench_max_pool}, {"softmax", bench_softmax},         {"gemm", bench_gemm},
        {"conv", bench_conv},         {"nt_xent", bench_nt_xent},         {"train_step", bench_train_step},
        {"augment", bench_augment}};
    for (const auto& [name, run] : groups)
      if (bench.wants(name)) run(bench);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_gpu: %s\n", e.what());
    return 1;
  }
}
