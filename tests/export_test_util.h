#pragma once
// What the export tests (test_export_onnx.cpp, test_export_torch.cpp) share: a model worth
// exporting, and running a helper script with its output kept for the test log.
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "core/ops.h"
#include "nn/layers.h"
#include "ssl/method.h"
#include "tests/test_util.h"

namespace sc::test {

// A SimCLR method whose encoder has BatchNorm parameters and statistics far from their
// defaults: random affine BN parameters, then three training-mode passes on random images,
// which move the running mean and variance away from 0 and 1. Returned in eval mode.
inline std::unique_ptr<ssl::Method> method_with_statistics(const std::string& encoder, int64_t width,
                                                           int64_t channels, int64_t size, Generator& gen) {
  ssl::MethodOptions options;
  options.encoder.encoder = encoder;
  options.encoder.width = width;
  options.encoder.in_channels = channels;
  std::unique_ptr<ssl::Method> method = ssl::make_method("simclr", options, gen);
  NoGradGuard no_grad;
  for (auto& [name, module] : method->encoder().named_modules()) {
    if (auto* bn = dynamic_cast<nn::BatchNorm*>(module)) {
      bn->weight.copy_(rand(bn->weight.shape(), gen, DType::Float32, 0.5, 1.5));
      bn->bias.copy_(rand(bn->bias.shape(), gen, DType::Float32, -0.5, 0.5));
    }
  }
  method->train();
  for (int i = 0; i < 3; ++i) method->encode(rand({8, channels, size, size}, gen));
  method->eval();
  return method;
}

struct Ran {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs a shell command, its output going to a file in `scratch`, and returns both.
inline Ran run_command(const std::string& command, const TempDir& scratch) {
  const std::string log = scratch.file("command-output.txt");
  const int status = std::system((command + " > '" + log + "' 2>&1").c_str());
  Ran r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(log);
  r.output.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return r;
}

}  // namespace sc::test
