// Reader and writer of the SCGOLD01 golden-file format (see tests/golden/README.md).
#include "tests/golden_io.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include "core/ops.h"

namespace sc::test {

// The data is stored little-endian and copied as is; a big-endian host would need byte swaps.
static_assert(std::endian::native == std::endian::little, "golden files are little-endian; add byte swapping");

namespace {

constexpr std::string_view kMagic = "SCGOLD01";
constexpr uint32_t kMaxNameLength = 1024;
constexpr uint32_t kMaxDims = 8;

// The dtype codes of the format. The codes are the file's, not DType's enum values, so
// reordering DType can never silently change what a file means.
bool dtype_from_code(uint32_t code, DType* out) {
  switch (code) {
    case 0: *out = DType::Float32; return true;
    case 1: *out = DType::Float64; return true;
    case 2: *out = DType::Int64; return true;
    default: return false;
  }
}

uint32_t code_of(DType d) {
  switch (d) {
    case DType::Float32: return 0;
    case DType::Float64: return 1;
    case DType::Int64: return 2;
    default: break;
  }
  throw Error(detail::concat("encode_golden: dtype ", dtype_name(d),
                             " has no golden-file code (float32, float64, int64)"));
}

// Walks the bytes front to back; every read checks that enough bytes are left first.
class ByteReader {
 public:
  ByteReader(std::string_view bytes, const std::string& source) : bytes_(bytes), source_(source) {}

  size_t offset() const { return pos_; }
  size_t remaining() const { return bytes_.size() - pos_; }

  // Throws naming the file, what was being read and where, when fewer than n bytes are left.
  void require(size_t n, const std::string& what) const {
    SC_CHECK(n <= remaining(), source_, ": truncated golden file: ", what, " needs ", n, " bytes at offset ", pos_,
             " but only ", remaining(), " are left");
  }

  template <typename T>
  T read(const std::string& what) {
    require(sizeof(T), what);
    T value;
    std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }

  std::string_view read_bytes(size_t n, const std::string& what) {
    require(n, what);
    std::string_view out = bytes_.substr(pos_, n);
    pos_ += n;
    return out;
  }

 private:
  std::string_view bytes_;
  const std::string& source_;
  size_t pos_ = 0;
};

template <typename T>
void append(std::string& out, T value) {
  char buf[sizeof(T)];
  std::memcpy(buf, &value, sizeof(T));
  out.append(buf, sizeof(T));
}

}  // namespace

const Tensor& GoldenFile::get(const std::string& name) const {
  auto it = tensors.find(name);
  SC_CHECK(it != tensors.end(), source, ": golden file has no tensor named '", name, "'");
  return it->second;
}

std::vector<std::string> GoldenFile::cases_with(const std::string& field) const {
  std::vector<std::string> cases;
  const std::string suffix = "/" + field;
  for (const auto& [name, tensor] : tensors) {
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      cases.push_back(name.substr(0, name.size() - suffix.size()));
    }
  }
  return cases;
}

std::string GoldenFile::torch_version() const {
  if (!has("meta/torch_version")) return "unknown";
  std::string text;
  for (int64_t c : get("meta/torch_version").to_vector<int64_t>()) text.push_back(static_cast<char>(c));
  return text;
}

GoldenFile parse_golden(std::string_view bytes, const std::string& source) {
  GoldenFile file;
  file.source = source;
  ByteReader in(bytes, source);

  const std::string_view magic = in.read_bytes(kMagic.size(), "the magic");
  SC_CHECK(magic == kMagic, source, ": not a golden file (the first 8 bytes are not \"SCGOLD01\")");

  const uint64_t count = in.read<uint64_t>("the tensor count");
  // The smallest record (a 1-char name, a 0-d float32: one element) takes 4 + 1 + 4 + 4 + 4
  // bytes; that bounds the count before we loop on it.
  SC_CHECK(count <= in.remaining() / 17, source, ": the tensor count ", count, " cannot fit in the ",
           in.remaining(), " bytes that follow it");

  for (uint64_t i = 0; i < count; ++i) {
    const std::string which = "tensor " + std::to_string(i);
    const uint32_t name_length = in.read<uint32_t>(which + "'s name length");
    SC_CHECK(name_length >= 1 && name_length <= kMaxNameLength, source, ": ", which, " has a name length of ",
             name_length, " (expected 1 to ", kMaxNameLength, ")");
    const std::string name(in.read_bytes(name_length, which + "'s name"));
    for (char c : name) {
      SC_CHECK(c >= 0x21 && c <= 0x7e, source, ": ", which, "'s name holds a byte that is not printable ASCII");
    }
    const std::string label = "tensor '" + name + "'";

    const uint32_t dtype_code = in.read<uint32_t>(label + "'s dtype code");
    DType dtype;
    SC_CHECK(dtype_from_code(dtype_code, &dtype), source, ": ", label, " has an unknown dtype code ", dtype_code,
             " (0 float32, 1 float64, 2 int64)");
    const uint32_t ndim = in.read<uint32_t>(label + "'s dim count");
    SC_CHECK(ndim <= kMaxDims, source, ": ", label, " has ", ndim, " dims (at most ", kMaxDims, ")");

    // The element count is built dim by dim and bounded by the bytes left at every step,
    // so a huge or hostile dim can neither overflow nor make us allocate.
    const uint64_t elem_size = dtype_size(dtype);
    const uint64_t max_elements = in.remaining() / elem_size;
    Shape shape;
    uint64_t numel = 1;
    for (uint32_t d = 0; d < ndim; ++d) {
      const int64_t size = in.read<int64_t>(label + "'s dim " + std::to_string(d));
      SC_CHECK(size >= 0, source, ": ", label, " has a negative dim ", size);
      shape.push_back(size);
      if (size == 0) {
        numel = 0;
      } else if (numel != 0) {
        SC_CHECK(static_cast<uint64_t>(size) <= max_elements / numel, source, ": truncated golden file: ", label,
                 " of shape ", shape_str(shape), "... holds more data than the file has left");
        numel *= static_cast<uint64_t>(size);
      }
    }
    const std::string_view data = in.read_bytes(numel * elem_size, label + " of shape " + shape_str(shape) + "'s data");

    Tensor t = empty(shape, dtype);
    if (!data.empty()) std::memcpy(t.raw_data(), data.data(), data.size());
    SC_CHECK(file.tensors.emplace(name, t).second, source, ": the name '", name, "' appears twice");
  }
  SC_CHECK(in.remaining() == 0, source, ": ", in.remaining(), " bytes follow the last of the ", count,
           " tensors (a corrupt count or a file written twice?)");
  return file;
}

GoldenFile read_golden_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  SC_CHECK(f.good(), path,
           ": cannot open the golden file (regenerate with /usr/bin/python3 tests/golden/gen_golden.py)");
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  SC_CHECK(!f.bad(), path, ": reading the golden file failed");
  return parse_golden(bytes, path);
}

std::string encode_golden(const std::map<std::string, Tensor>& tensors) {
  std::string out(kMagic);
  append<uint64_t>(out, tensors.size());
  for (const auto& [name, tensor] : tensors) {
    SC_CHECK(tensor.device() == Device::CPU, "encode_golden: '", name, "' is ", tensor.describe(), " (CPU only)");
    append<uint32_t>(out, static_cast<uint32_t>(name.size()));
    out += name;
    append<uint32_t>(out, code_of(tensor.dtype()));
    append<uint32_t>(out, static_cast<uint32_t>(tensor.dim()));
    for (int64_t size : tensor.shape()) append<int64_t>(out, size);
    const Tensor c = tensor.contiguous();
    if (c.numel() > 0) out.append(static_cast<const char*>(c.raw_data()), c.numel() * dtype_size(c.dtype()));
  }
  return out;
}

std::string compare_tensors(const Tensor& actual, const Tensor& expected, double rtol, double atol) {
  if (!actual.defined() || !expected.defined()) {
    return actual.defined() ? "the expected tensor is undefined" : "the actual tensor is undefined";
  }
  if (actual.shape() != expected.shape() || actual.dtype() != expected.dtype()) {
    return "got " + actual.describe() + ", expected " + expected.describe();
  }
  const std::vector<double> a = actual.to(DType::Float64).to_vector<double>();
  const std::vector<double> e = expected.to(DType::Float64).to_vector<double>();
  int64_t failures = 0, worst = -1;
  double worst_ratio = 0.0;  // |a - e| / allowed; NaN counts as infinitely bad
  for (size_t i = 0; i < a.size(); ++i) {
    const double allowed = atol + rtol * std::fabs(e[i]);
    const double diff = std::fabs(a[i] - e[i]);
    if (diff <= allowed) continue;
    ++failures;
    const double ratio = std::isnan(diff) ? INFINITY : diff / allowed;
    if (worst < 0 || ratio > worst_ratio) {
      worst_ratio = ratio;
      worst = static_cast<int64_t>(i);
    }
  }
  if (failures == 0) return "";

  // The worst element's multi-dim index, for a reader who wants to find it.
  Shape index(expected.dim());
  int64_t rest = worst;
  for (int64_t d = expected.dim() - 1; d >= 0; --d) {
    index[d] = rest % expected.shape()[d];
    rest /= expected.shape()[d];
  }
  std::ostringstream os;
  os.precision(17);
  os << failures << " of " << a.size() << " elements differ; worst at " << shape_str(index) << ": got " << a[worst]
     << ", expected " << e[worst] << ", |diff| " << std::fabs(a[worst] - e[worst]) << " > allowed "
     << atol + rtol * std::fabs(e[worst]) << " (rtol " << rtol << ", atol " << atol << ")";
  return os.str();
}

}  // namespace sc::test
