// The safetensors export loads in PyTorch and gives our features: `simclr export`'s file goes
// through the repo's loader python/simclr_torch.py (tests/python/check_torch_export.py),
// which rebuilds the ConvNet or the ResNet-18 from the file's metadata; in eval mode it must
// reproduce the features our encoder computes on the same random images, to 1e-5
// (atol = rtol). BatchNorm has random affine parameters and non-default running statistics.
// Skipped, saying so, when /usr/bin/python3 with torch and numpy is absent (Debian python3-torch).
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include "core/ops.h"
#include "ssl/export.h"
#include "ssl/method.h"
#include "tests/export_test_util.h"
#include "tests/test_util.h"

using namespace sc;
using namespace sc::ssl;

TEST_CASE("simclr: the exported ConvNet and ResNet-18 load in PyTorch (python/simclr_torch.py) and match our features") {
  if (std::system("/usr/bin/python3 -c 'import torch, numpy' > /dev/null 2>&1") != 0) {
    MESSAGE("SKIPPED: needs /usr/bin/python3 with torch and numpy (Debian python3-torch)");
    return;
  }
  Generator gen(7);
  struct Case {
    const char* encoder;
    int64_t width, channels, size;
  };
  for (const Case& c : {Case{"convnet", 4, 1, 28}, Case{"resnet18", 4, 3, 32}}) {
    const std::string encoder = c.encoder;
    CAPTURE(encoder);
    auto method = test::method_with_statistics(encoder, c.width, c.channels, c.size, gen);
    const Tensor x = rand({6, c.channels, c.size, c.size}, gen);
    Tensor h;
    {
      NoGradGuard no_grad;
      h = method->encode(x);
    }
    test::TempDir dir("export");
    export_encoder_safetensors(*method, dir.file("encoder.safetensors"));
    write_npy(dir.file("x.npy"), x);
    write_npy(dir.file("h.npy"), h);
    const test::Ran r = test::run_command("/usr/bin/python3 " SC_SOURCE_DIR "/tests/python/check_torch_export.py '" +
                                              dir.file("encoder.safetensors") + "' '" + dir.file("x.npy") + "' '" +
                                              dir.file("h.npy") + "' " + encoder,
                                          dir);
    MESSAGE(r.output);
    CHECK_MESSAGE(r.exit_code == 0, "PyTorch's features differ from ours");
  }
}
