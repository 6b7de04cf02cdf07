// The exported encoder loads in PyTorch and gives our features: `simclr export`'s
// safetensors file goes into the README's PyTorch ConvNet (tests/golden/check_export.py),
// which must reproduce the features our encoder computes on the same images in eval mode.
// Skipped, saying so, when /usr/bin/python3 with torch and numpy is absent.
#include <doctest/doctest.h>

#include <cstdlib>

#include "core/ops.h"
#include "ssl/export.h"
#include "ssl/method.h"
#include "tests/test_util.h"

using namespace sc;
using namespace sc::ssl;

TEST_CASE("simclr: the exported encoder loads in PyTorch and matches our features") {
  if (std::system("/usr/bin/python3 -c 'import torch, numpy' > /dev/null 2>&1") != 0) {
    MESSAGE("SKIPPED: needs /usr/bin/python3 with torch and numpy (Debian python3-torch)");
    return;
  }
  Generator gen(7);
  MethodOptions options;
  options.encoder.width = 4;
  auto method = make_method("simclr", options, gen);
  Method& model = *method;
  {
    // A few training-mode passes give BatchNorm non-trivial running statistics to export.
    NoGradGuard no_grad;
    model.train();
    for (int i = 0; i < 3; ++i) model.encode(rand({8, 1, 28, 28}, gen));
  }
  model.eval();
  Tensor x = rand({6, 1, 28, 28}, gen);
  Tensor h;
  {
    NoGradGuard no_grad;
    h = model.encode(x);
  }
  test::TempDir dir("export");
  export_encoder_safetensors(model, dir.file("encoder.safetensors"));
  write_npy(dir.file("x.npy"), x);
  write_npy(dir.file("h.npy"), h);
  const std::string command = "/usr/bin/python3 " SC_GOLDEN_DIR "/check_export.py " + dir.file("encoder.safetensors") +
                              " " + dir.file("x.npy") + " " + dir.file("h.npy") + " 4 1";
  CHECK_MESSAGE(std::system(command.c_str()) == 0, "PyTorch's features differ from ours: ", command);
}
