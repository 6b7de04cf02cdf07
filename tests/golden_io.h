#pragma once
// Golden files: named tensors written once by PyTorch (tests/golden/gen_golden.py) and
// read by the tests, so no Python runs at test time. The format, SCGOLD01, is described
// in tests/golden/README.md: a magic, a count, then per tensor its name, dtype code,
// dims and raw little-endian data.
//
// Names are "<case>/<field>" ("k3x3_s1_p1_bias_f32/grad_weight"); every file also holds
// "meta/torch_version", the PyTorch version that wrote it, as int64 character codes.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"

namespace sc::test {

struct GoldenFile {
  std::string source;                     // the path (or label) named in every error
  std::map<std::string, Tensor> tensors;  // sorted by name

  bool has(const std::string& name) const { return tensors.count(name) != 0; }
  // The tensor called `name`; an sc::Error naming the file and the name when it is absent.
  const Tensor& get(const std::string& name) const;
  // The cases that hold `field`: "<case>" for every tensor named "<case>/<field>", sorted.
  std::vector<std::string> cases_with(const std::string& field) const;
  // meta/torch_version decoded back to text ("1.13.0"); "unknown" when absent.
  std::string torch_version() const;
};

// Reads and validates a golden file. Any defect (missing file, wrong magic, a size that
// runs past the end, an unknown dtype, a duplicate name, trailing bytes) throws sc::Error
// whose message starts with the path.
GoldenFile read_golden_file(const std::string& path);
// The same over bytes already in memory; `source` names them in errors.
GoldenFile parse_golden(std::string_view bytes, const std::string& source);

// The writer: the bytes of a golden file holding `tensors` (float32, float64 or int64,
// any layout, CPU). The generator is Python; this exists so the reader's own tests can
// build good and broken files.
std::string encode_golden(const std::map<std::string, Tensor>& tensors);

// Compares element by element: passes when every |actual - expected| <= atol + rtol * |expected|
// (NaN never passes). Returns "" on a pass, otherwise a report: shape/dtype mismatch, or the
// number of failing elements and the worst one (index, both values, the allowed difference).
std::string compare_tensors(const Tensor& actual, const Tensor& expected, double rtol, double atol);

}  // namespace sc::test
