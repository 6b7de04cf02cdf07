#include "ssl/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "core/ops.h"

namespace sc::ssl {

static_assert(std::endian::native == std::endian::little,
              "the checkpoint and export writers copy raw little-endian bytes");

namespace {

constexpr char kMagic[6] = {'S', 'C', 'C', 'K', 'P', 'T'};
constexpr char kEndMarker[8] = {'S', 'C', 'C', 'K', 'E', 'N', 'D', '\0'};
constexpr uint64_t kTrailerBytes = 16;  // end marker + file CRC + reserved
constexpr uint32_t kMaxNameBytes = 4096;
constexpr uint32_t kMaxDims = 16;
const char* const kSectionNames[3] = {"model", "optimizer", "rng"};

// zlib's crc32 takes a 32-bit length; feed big buffers in pieces.
uint32_t crc_update(uint32_t crc, const void* data, size_t n) {
  auto p = static_cast<const Bytef*>(data);
  while (n > 0) {
    const uInt piece = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    crc = static_cast<uint32_t>(crc32(crc, p, piece));
    p += piece;
    n -= piece;
  }
  return crc;
}
uint32_t crc_start() { return static_cast<uint32_t>(crc32(0L, Z_NULL, 0)); }

uint8_t dtype_code(DType d) {
  switch (d) {
    case DType::Float32: return 0;
    case DType::Float64: return 1;
    case DType::Int64: return 2;
    case DType::Int32: return 3;
  }
  return 255;
}

std::string errno_text() { return std::strerror(errno); }

// Writes bytes and keeps two running CRCs: one over the whole file, one over the current entry.
class CheckedWriter {
 public:
  CheckedWriter(std::FILE* file, const std::string& path) : file_(file), path_(path) {}

  void bytes(const void* data, size_t n) {
    if (n == 0) return;
    SC_CHECK(std::fwrite(data, 1, n, file_) == n, "save_checkpoint: writing '", path_, "' failed: ", errno_text());
    file_crc_ = crc_update(file_crc_, data, n);
    entry_crc_ = crc_update(entry_crc_, data, n);
  }
  template <typename T>
  void value(T v) {
    bytes(&v, sizeof(T));
  }
  void string_with_length(const std::string& s, bool wide_length) {
    if (wide_length)
      value<uint64_t>(s.size());
    else
      value<uint32_t>(static_cast<uint32_t>(s.size()));
    bytes(s.data(), s.size());
  }
  void begin_entry() { entry_crc_ = crc_start(); }
  void end_entry() { value<uint32_t>(entry_crc_); }
  void trailer() {
    const uint32_t file_crc = file_crc_;
    bytes(kEndMarker, sizeof(kEndMarker));
    value<uint32_t>(file_crc);
    value<uint32_t>(0);
  }

 private:
  std::FILE* file_;
  const std::string& path_;
  uint32_t file_crc_ = crc_start();
  uint32_t entry_crc_ = crc_start();
};

// Reads bytes from [0, body_end) and refuses to read past it, so every length in a corrupt
// header is checked against what the file really holds before anything is allocated.
class CheckedReader {
 public:
  CheckedReader(std::FILE* file, const std::string& path, uint64_t body_end)
      : file_(file), path_(path), body_end_(body_end) {}

  uint64_t remaining() const { return body_end_ - position_; }
  uint64_t position() const { return position_; }

  void bytes(void* data, uint64_t n, const std::string& what) {
    SC_CHECK(n <= remaining(), "load_checkpoint: '", path_, "' is truncated or corrupt: ", what, " needs ", n,
             " bytes but only ", remaining(), " remain before the trailer");
    if (n == 0) return;
    SC_CHECK(std::fread(data, 1, n, file_) == n, "load_checkpoint: reading '", path_, "' failed at byte ", position_,
             ": ", std::feof(file_) ? "unexpected end of file" : errno_text());
    position_ += n;
    file_crc_ = crc_update(file_crc_, data, n);
    entry_crc_ = crc_update(entry_crc_, data, n);
  }
  template <typename T>
  T value(const std::string& what) {
    T v;
    bytes(&v, sizeof(T), what);
    return v;
  }
  void begin_entry() { entry_crc_ = crc_start(); }
  // Reads the stored entry CRC and compares it with the bytes just read.
  bool entry_crc_matches(const std::string& what) {
    const uint32_t computed = entry_crc_;
    return value<uint32_t>(what) == computed;
  }
  uint32_t file_crc() const { return file_crc_; }

 private:
  std::FILE* file_;
  const std::string& path_;
  uint64_t body_end_;
  uint64_t position_ = 0;
  uint32_t file_crc_ = crc_start();
  uint32_t entry_crc_ = crc_start();
};

struct FileCloser {
  std::FILE* file;
  ~FileCloser() {
    if (file) std::fclose(file);
  }
};

void check_names(const std::vector<std::string>& names, const char* section, const char* op) {
  std::set<std::string> seen;
  for (const auto& name : names) {
    SC_CHECK(!name.empty() && name.size() <= kMaxNameBytes, op, ": ", section, " entry names must be 1..",
             kMaxNameBytes, " bytes long, got '", name, "'");
    SC_CHECK(seen.insert(name).second, op, ": the ", section, " section has two entries named '", name, "'");
  }
}

void check_tensors_for_saving(const NamedTensors& tensors, const char* section) {
  std::vector<std::string> names;
  for (const auto& [name, tensor] : tensors) {
    names.push_back(name);
    SC_CHECK(tensor.defined(), "save_checkpoint: ", section, " tensor '", name, "' is undefined");
    SC_CHECK(tensor.device() == Device::CPU, "save_checkpoint: ", section, " tensor '", name, "' is ",
             tensor.describe(), "; move it to the CPU first");
    SC_CHECK(tensor.dim() <= kMaxDims, "save_checkpoint: ", section, " tensor '", name, "' has ", tensor.dim(),
             " dims (at most ", kMaxDims, ")");
  }
  check_names(names, section, "save_checkpoint");
}

void write_tensor(CheckedWriter& out, const std::string& name, const Tensor& tensor) {
  const Tensor data = tensor.contiguous();
  out.begin_entry();
  out.string_with_length(name, false);
  out.value<uint8_t>(dtype_code(data.dtype()));
  out.value<uint32_t>(static_cast<uint32_t>(data.dim()));
  for (int64_t d : data.shape()) out.value<int64_t>(d);
  const uint64_t data_bytes = static_cast<uint64_t>(data.numel()) * dtype_size(data.dtype());
  out.value<uint64_t>(data_bytes);
  if (data_bytes > 0) out.bytes(data.raw_data(), data_bytes);
  out.end_entry();
}

std::string read_name(CheckedReader& in, const std::string& path, const std::string& what) {
  const uint32_t length = in.value<uint32_t>(what + " name length");
  SC_CHECK(length >= 1 && length <= kMaxNameBytes, "load_checkpoint: '", path, "' is corrupt: ", what,
           " name length ", length, " is outside 1..", kMaxNameBytes);
  std::string name(length, '\0');
  in.bytes(name.data(), length, what + " name");
  return name;
}

Tensor read_tensor(CheckedReader& in, const std::string& path, const char* section, std::string& name_out) {
  in.begin_entry();
  const std::string what = std::string(section) + " tensor";
  name_out = read_name(in, path, what);
  const std::string where = detail::concat(section, " tensor '", name_out, "'");
  const uint8_t code = in.value<uint8_t>(where + " dtype");
  SC_CHECK(code <= 3, "load_checkpoint: '", path, "' is corrupt: ", where, " has unknown dtype code ",
           static_cast<int>(code));
  const DType dtype = code == 0 ? DType::Float32 : code == 1 ? DType::Float64 : code == 2 ? DType::Int64 : DType::Int32;
  const uint32_t ndim = in.value<uint32_t>(where + " ndim");
  SC_CHECK(ndim <= kMaxDims, "load_checkpoint: '", path, "' is corrupt: ", where, " claims ", ndim, " dims (at most ",
           kMaxDims, ")");
  Shape shape(ndim);
  // The element count is bounded by the bytes left in the file, checked as it grows, so a
  // header claiming 2^60 elements is refused here, before any allocation or overflow.
  const uint64_t max_elements = in.remaining() / dtype_size(dtype);
  uint64_t numel = 1;
  bool too_big = false;
  for (uint32_t d = 0; d < ndim; ++d) {
    shape[d] = in.value<int64_t>(where + " shape");
    SC_CHECK(shape[d] >= 0, "load_checkpoint: '", path, "' is corrupt: ", where, " has a negative dim ", shape[d]);
    const uint64_t size = static_cast<uint64_t>(shape[d]);
    if (size != 0 && numel > max_elements / size) too_big = true;
    numel *= too_big ? 1 : size;
  }
  SC_CHECK(!too_big, "load_checkpoint: '", path, "' is truncated or corrupt: ", where, " claims shape ",
           shape_str(shape), ", more elements than the ", in.remaining(), " bytes left in the file can hold");
  const uint64_t data_bytes = in.value<uint64_t>(where + " byte count");
  SC_CHECK(data_bytes == numel * dtype_size(dtype), "load_checkpoint: '", path, "' is corrupt: ", where, " (",
           dtype_name(dtype), shape_str(shape), ") says it holds ", data_bytes, " bytes, expected ",
           numel * dtype_size(dtype));
  SC_CHECK(data_bytes <= in.remaining(), "load_checkpoint: '", path, "' is truncated: ", where, " needs ", data_bytes,
           " bytes but only ", in.remaining(), " remain");
  Tensor tensor = empty(shape, dtype);
  if (data_bytes > 0) in.bytes(tensor.raw_data(), data_bytes, where + " data");
  SC_CHECK(in.entry_crc_matches(where + " checksum"), "load_checkpoint: '", path, "': checksum mismatch in ", where,
           " (the file is corrupt)");
  return tensor;
}

template <typename Entry>
const auto& find_entry(const std::vector<std::pair<std::string, Entry>>& entries, const std::string& name,
                       const char* section) {
  for (const auto& [entry_name, entry] : entries)
    if (entry_name == name) return entry;
  throw Error(detail::concat("checkpoint: no ", section, " entry named '", name, "' (it holds ", entries.size(),
                             " ", section, " entries)"));
}

}  // namespace

const Tensor& Checkpoint::model_tensor(const std::string& name) const { return find_entry(model, name, "model"); }
const Tensor& Checkpoint::optimizer_tensor(const std::string& name) const {
  return find_entry(optimizer, name, "optimizer");
}
const Generator::State& Checkpoint::rng_state(const std::string& name) const { return find_entry(rng, name, "rng"); }

void write_file_atomically(const std::string& path, const std::function<void(std::FILE*)>& write_body) {
  const std::string tmp = path + ".tmp";
  std::FILE* file = std::fopen(tmp.c_str(), "wb");
  SC_CHECK(file != nullptr, "cannot write '", path, "': opening the temporary file '", tmp, "' failed: ", errno_text());
  try {
    write_body(file);
    SC_CHECK(std::fflush(file) == 0, "writing '", tmp, "' failed: ", errno_text());
    SC_CHECK(::fsync(::fileno(file)) == 0, "fsync of '", tmp, "' failed: ", errno_text());
  } catch (...) {
    std::fclose(file);
    std::remove(tmp.c_str());
    throw;
  }
  if (std::fclose(file) != 0) {
    const std::string reason = errno_text();
    std::remove(tmp.c_str());
    throw Error(detail::concat("writing '", tmp, "' failed on close: ", reason));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string reason = errno_text();
    std::remove(tmp.c_str());
    throw Error(detail::concat("cannot replace '", path, "' with '", tmp, "': ", reason));
  }
  // The rename is only durable once the directory entry is on disk.
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  SC_CHECK(dir_fd >= 0, "wrote '", path, "' but cannot open its directory '", dir, "' to fsync it: ", errno_text());
  const int rc = ::fsync(dir_fd);
  const int fsync_errno = errno;
  ::close(dir_fd);
  // Some file systems do not support fsync on a directory (EINVAL); the rename still happened.
  SC_CHECK(rc == 0 || fsync_errno == EINVAL, "wrote '", path, "' but fsync of its directory '", dir,
           "' failed: ", std::strerror(fsync_errno));
}

void save_checkpoint(const std::string& path, const Checkpoint& checkpoint) {
  // Validate everything before touching the disk.
  check_tensors_for_saving(checkpoint.model, "model");
  check_tensors_for_saving(checkpoint.optimizer, "optimizer");
  std::vector<std::string> rng_names;
  for (const auto& entry : checkpoint.rng) rng_names.push_back(entry.first);
  check_names(rng_names, "rng", "save_checkpoint");

  write_file_atomically(path, [&](std::FILE* file) {
    CheckedWriter out(file, path);
    out.bytes(kMagic, sizeof(kMagic));
    out.value<uint16_t>(kCheckpointVersion);
    out.string_with_length(checkpoint.config, true);
    out.value<int64_t>(checkpoint.step);
    out.value<int64_t>(checkpoint.epoch);
    for (const NamedTensors* section : {&checkpoint.model, &checkpoint.optimizer}) {
      out.value<uint64_t>(section->size());
      for (const auto& [name, tensor] : *section) write_tensor(out, name, tensor);
    }
    out.value<uint64_t>(checkpoint.rng.size());
    for (const auto& [name, state] : checkpoint.rng) {
      out.begin_entry();
      out.string_with_length(name, false);
      for (uint64_t word : state.s) out.value<uint64_t>(word);
      out.value<uint8_t>(state.has_spare ? 1 : 0);
      out.value<double>(state.spare);
      out.end_entry();
    }
    out.trailer();
  });
}

Checkpoint load_checkpoint(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  SC_CHECK(file != nullptr, "load_checkpoint: cannot open '", path, "': ", errno_text());
  FileCloser closer{file};
  SC_CHECK(::fseeko(file, 0, SEEK_END) == 0, "load_checkpoint: cannot seek in '", path, "': ", errno_text());
  const off_t end = ::ftello(file);
  SC_CHECK(end >= 0, "load_checkpoint: cannot size '", path, "': ", errno_text());
  const uint64_t file_size = static_cast<uint64_t>(end);
  std::rewind(file);

  // Magic and version first, so a wrong file is named as such even when it is short.
  char magic[6] = {};
  uint16_t version = 0;
  SC_CHECK(file_size >= sizeof(magic) + sizeof(version), "load_checkpoint: '", path, "' is not a checkpoint: only ",
           file_size, " bytes long");
  SC_CHECK(std::fread(magic, 1, sizeof(magic), file) == sizeof(magic) && std::fread(&version, 2, 1, file) == 1,
           "load_checkpoint: reading '", path, "' failed: ", errno_text());
  SC_CHECK(std::memcmp(magic, kMagic, sizeof(magic)) == 0, "load_checkpoint: '", path,
           "' is not a simclr.cpp checkpoint (bad magic; expected \"SCCKPT\")");
  SC_CHECK(version == kCheckpointVersion, "load_checkpoint: '", path, "' has unsupported format version ", version,
           " (this build reads version ", kCheckpointVersion, ")");

  // Then the trailer: a missing end marker means the file was cut short.
  char marker[8] = {};
  uint32_t stored_file_crc = 0;
  const uint64_t header_bytes = sizeof(magic) + sizeof(version);
  bool has_marker = file_size >= header_bytes + kTrailerBytes;
  if (has_marker) {
    SC_CHECK(::fseeko(file, static_cast<off_t>(file_size - kTrailerBytes), SEEK_SET) == 0, "load_checkpoint: cannot seek in '",
             path, "'");
    SC_CHECK(std::fread(marker, 1, 8, file) == 8 && std::fread(&stored_file_crc, 4, 1, file) == 1,
             "load_checkpoint: reading '", path, "' failed: ", errno_text());
    has_marker = std::memcmp(marker, kEndMarker, sizeof(marker)) == 0;
  }
  SC_CHECK(has_marker, "load_checkpoint: '", path, "' is truncated (the end marker is missing; the file is ",
           file_size, " bytes)");
  std::rewind(file);

  CheckedReader in(file, path, file_size - kTrailerBytes);
  char skip[8];
  in.bytes(skip, header_bytes, "header");  // magic + version, checked above; read again for the file CRC

  Checkpoint checkpoint;
  const uint64_t config_length = in.value<uint64_t>("config length");
  SC_CHECK(config_length <= in.remaining(), "load_checkpoint: '", path, "' is truncated or corrupt: the config claims ",
           config_length, " bytes but only ", in.remaining(), " remain");
  checkpoint.config.resize(config_length);
  in.bytes(checkpoint.config.data(), config_length, "config");
  checkpoint.step = in.value<int64_t>("step");
  checkpoint.epoch = in.value<int64_t>("epoch");

  NamedTensors* tensor_sections[2] = {&checkpoint.model, &checkpoint.optimizer};
  for (int s = 0; s < 2; ++s) {
    const uint64_t count = in.value<uint64_t>(std::string(kSectionNames[s]) + " entry count");
    // No reserve(count): a corrupt count simply runs out of bytes below.
    for (uint64_t i = 0; i < count; ++i) {
      std::string name;
      Tensor tensor = read_tensor(in, path, kSectionNames[s], name);
      tensor_sections[s]->emplace_back(std::move(name), std::move(tensor));
    }
  }
  const uint64_t rng_count = in.value<uint64_t>("rng entry count");
  for (uint64_t i = 0; i < rng_count; ++i) {
    in.begin_entry();
    const std::string name = read_name(in, path, "rng state");
    const std::string where = "rng state '" + name + "'";
    Generator::State state{};
    for (auto& word : state.s) word = in.value<uint64_t>(where);
    state.has_spare = in.value<uint8_t>(where) != 0;
    state.spare = in.value<double>(where);
    SC_CHECK(in.entry_crc_matches(where + " checksum"), "load_checkpoint: '", path, "': checksum mismatch in ", where,
             " (the file is corrupt)");
    checkpoint.rng.emplace_back(name, state);
  }
  SC_CHECK(in.remaining() == 0, "load_checkpoint: '", path, "' is corrupt: ", in.remaining(),
           " unexpected bytes before the trailer");
  SC_CHECK(in.file_crc() == stored_file_crc, "load_checkpoint: '", path,
           "': whole-file checksum mismatch (the header or the counts are corrupt)");
  for (int s = 0; s < 2; ++s) {
    std::vector<std::string> names;
    for (const auto& entry : *tensor_sections[s]) names.push_back(entry.first);
    check_names(names, kSectionNames[s], ("load_checkpoint: '" + path + "'").c_str());
  }
  return checkpoint;
}

namespace {
void check_compatible_impl(const std::vector<std::pair<std::string, Shape>>& expected,
                           const std::vector<DType>* expected_dtypes, const NamedTensors& loaded,
                           const std::string& source) {
  const std::string prefix = detail::concat(source, " does not match the model: ");
  for (size_t i = 0; i < expected.size(); ++i) {
    const auto& [name, shape] = expected[i];
    const Tensor* found = nullptr;
    for (const auto& [loaded_name, tensor] : loaded)
      if (loaded_name == name) found = &tensor;
    SC_CHECK(found != nullptr, prefix, "missing tensor '", name, "' (the model expects shape ", shape_str(shape),
             "; the checkpoint holds ", loaded.size(), " tensors, the model ", expected.size(), ")");
    SC_CHECK(found->shape() == shape, prefix, "tensor '", name, "' has shape ", found->shape_string(),
             " in the checkpoint but the model expects ", shape_str(shape));
    if (expected_dtypes)
      SC_CHECK(found->dtype() == (*expected_dtypes)[i], prefix, "tensor '", name, "' is ", dtype_name(found->dtype()),
               " in the checkpoint but the model expects ", dtype_name((*expected_dtypes)[i]));
  }
  for (const auto& [loaded_name, tensor] : loaded) {
    bool known = false;
    for (const auto& entry : expected)
      if (entry.first == loaded_name) known = true;
    SC_CHECK(known, prefix, "unexpected tensor '", loaded_name, "' (", tensor.describe(),
             ") that the model does not have");
  }
}
}  // namespace

void check_compatible(const std::vector<std::pair<std::string, Shape>>& expected, const NamedTensors& loaded,
                      const std::string& source) {
  check_compatible_impl(expected, nullptr, loaded, source);
}

void check_compatible(const NamedTensors& expected, const NamedTensors& loaded, const std::string& source) {
  std::vector<std::pair<std::string, Shape>> shapes;
  std::vector<DType> dtypes;
  for (const auto& [name, tensor] : expected) {
    SC_CHECK(tensor.defined(), "check_compatible: the model's tensor '", name, "' is undefined");
    shapes.emplace_back(name, tensor.shape());
    dtypes.push_back(tensor.dtype());
  }
  check_compatible_impl(shapes, &dtypes, loaded, source);
}

}  // namespace sc::ssl
