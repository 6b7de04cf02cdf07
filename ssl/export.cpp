#include "ssl/export.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/ops.h"

namespace sc::ssl {

namespace {

// ---- small helpers -------------------------------------------------------------------

std::string read_whole_file(const std::string& path, const char* op) {
  std::ifstream in(path, std::ios::binary);
  SC_CHECK(in.good(), op, ": cannot open '", path, "': ", std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void write_bytes(std::FILE* file, const void* data, size_t n, const std::string& path) {
  if (n == 0) return;
  SC_CHECK(std::fwrite(data, 1, n, file) == n, "writing '", path, "' failed: ", std::strerror(errno));
}

void check_exportable(const Tensor& tensor, const std::string& what, const char* op) {
  SC_CHECK(tensor.defined(), op, ": ", what, " is undefined");
  SC_CHECK(tensor.device() == Device::CPU, op, ": ", what, " is ", tensor.describe(), "; move it to the CPU first");
}

// The safetensors header is JSON, read and written with nlohmann::json. ordered_json keeps
// the keys in file order: the writer then lays out "dtype", "shape", "data_offsets" in the
// order the format description shows, and the reader sees the tensors as they were written.
using Json = nlohmann::ordered_json;

// Parses the header text. Every failure becomes an sc::Error naming the file: nlohmann's
// own exceptions never leave this function.
Json parse_header(const std::string& header, const std::string& path) {
  // A safetensors header nests three levels (root, tensor, shape); refuse much deeper ones
  // early instead of building them.
  constexpr int kMaxDepth = 16;
  const Json::parser_callback_t limit_depth = [&](int depth, Json::parse_event_t event, Json&) {
    if (depth >= kMaxDepth && (event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start))
      throw Error("read_safetensors: '" + path + "' has a bad JSON header: nested more than " +
                  std::to_string(kMaxDepth) + " levels deep");
    return true;
  };
  try {
    return Json::parse(header, limit_depth);
  } catch (const Json::parse_error& e) {
    // e.what() starts with "[json.exception.parse_error.101] "; the rest says what and where.
    std::string problem = e.what();
    if (const size_t tag_end = problem.find("] "); tag_end != std::string::npos) problem.erase(0, tag_end + 2);
    throw Error("read_safetensors: '" + path + "' has a bad JSON header at byte " + std::to_string(e.byte) + ": " +
                problem);
  } catch (const Json::exception& e) {
    throw Error("read_safetensors: '" + path + "' has a bad JSON header: " + e.what());
  }
}

const char* safetensors_dtype(DType d) {
  switch (d) {
    case DType::Float32: return "F32";
    case DType::Float64: return "F64";
    case DType::Int64: return "I64";
    case DType::Int32: return "I32";
  }
  return "?";
}

const char* npy_descr(DType d) {
  switch (d) {
    case DType::Float32: return "<f4";
    case DType::Float64: return "<f8";
    case DType::Int64: return "<i8";
    case DType::Int32: return "<i4";
  }
  return "?";
}

}  // namespace

// ---- safetensors ---------------------------------------------------------------------

void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::set<std::string> names;
  std::vector<Tensor> contiguous;
  Json header = Json::object();
  if (!metadata.empty()) {
    Json& entries = header["__metadata__"] = Json::object();
    for (const auto& [key, value] : metadata) entries[key] = value;
  }
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    check_exportable(tensor, "tensor '" + name + "'", "write_safetensors");
    SC_CHECK(!name.empty() && name != "__metadata__", "write_safetensors: '", name, "' cannot be a tensor name");
    SC_CHECK(names.insert(name).second, "write_safetensors: two tensors are named '", name, "'");
    contiguous.push_back(tensor.contiguous());
    const uint64_t bytes = static_cast<uint64_t>(tensor.numel()) * dtype_size(tensor.dtype());
    // Built key by key so they appear in this order in the file.
    Json entry = Json::object();
    entry["dtype"] = safetensors_dtype(tensor.dtype());
    entry["shape"] = tensor.shape();
    entry["data_offsets"] = Json::array({offset, offset + bytes});
    header[name] = std::move(entry);
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump();  // compact: no spaces, as the Hugging Face writer does
  } catch (const Json::exception& e) {  // a name or metadata string that is not valid UTF-8
    throw Error("write_safetensors: '" + path + "': a tensor name or metadata entry cannot be written as JSON: " +
                e.what());
  }
  // Pad with spaces (valid JSON whitespace) so the data buffer starts 8-byte aligned.
  while ((8 + text.size()) % 8 != 0) text += ' ';

  write_file_atomically(path, [&](std::FILE* file) {
    const uint64_t header_length = text.size();
    write_bytes(file, &header_length, 8, path);
    write_bytes(file, text.data(), text.size(), path);
    for (const Tensor& t : contiguous)
      if (t.numel() > 0) write_bytes(file, t.raw_data(), static_cast<size_t>(t.numel()) * dtype_size(t.dtype()), path);
  });
}

// The function-try-block is a last guard: the checks below leave no nlohmann call that
// should throw, but if one did, the caller still gets an sc::Error naming the file.
SafetensorsFile read_safetensors(const std::string& path) try {
  const std::string bytes = read_whole_file(path, "read_safetensors");
  SC_CHECK(bytes.size() >= 8, "read_safetensors: '", path, "' is too short (", bytes.size(), " bytes)");
  uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  // Checked before anything is read or allocated: a corrupt length cannot make us read past the file.
  SC_CHECK(header_length <= bytes.size() - 8, "read_safetensors: '", path, "' claims a ", header_length,
           "-byte header but the file is ", bytes.size(), " bytes");
  const uint64_t data_start = 8 + header_length;
  const uint64_t data_size = bytes.size() - data_start;

  const Json root = parse_header(bytes.substr(8, header_length), path);
  SC_CHECK(root.is_object(), "read_safetensors: '", path, "': the header is not a JSON object");
  SafetensorsFile result;
  struct Placed {
    uint64_t begin;
    std::string name;
    Tensor tensor;
  };
  std::vector<Placed> placed;
  for (auto item = root.begin(); item != root.end(); ++item) {
    const std::string& name = item.key();
    const Json& entry = item.value();
    if (name == "__metadata__") {
      SC_CHECK(entry.is_object(), "read_safetensors: '", path, "': __metadata__ is not an object");
      for (auto meta = entry.begin(); meta != entry.end(); ++meta) {
        SC_CHECK(meta.value().is_string(), "read_safetensors: '", path, "': metadata '", meta.key(),
                 "' is not a string");
        result.metadata[meta.key()] = meta.value().get<std::string>();
      }
      continue;
    }
    const std::string where = "read_safetensors: '" + path + "': tensor '" + name + "'";
    SC_CHECK(entry.is_object(), where, " is not a JSON object");
    // A field of this tensor's entry, or nullptr when it is missing.
    auto field = [&](const char* key) -> const Json* {
      const auto found = entry.find(key);
      return found == entry.end() ? nullptr : &*found;
    };
    const Json* dtype = field("dtype");
    const Json* shape = field("shape");
    const Json* offsets = field("data_offsets");
    SC_CHECK(dtype && dtype->is_string(), where, " has no \"dtype\" string");
    SC_CHECK(shape && shape->is_array(), where, " has no \"shape\" array");
    SC_CHECK(offsets && offsets->is_array() && offsets->size() == 2, where, " has no \"data_offsets\" pair");
    const std::string& dtype_name = dtype->get_ref<const std::string&>();
    DType d;
    if (dtype_name == "F32") d = DType::Float32;
    else if (dtype_name == "F64") d = DType::Float64;
    else if (dtype_name == "I64") d = DType::Int64;
    else if (dtype_name == "I32") d = DType::Int32;
    else throw Error(where + " has dtype \"" + dtype_name + "\"; only F32, F64, I64, I32 are supported");
    // Dims are checked against the data buffer as they come, so a hostile shape can neither
    // overflow numel nor make us allocate more than the file holds.
    Shape dims;
    uint64_t numel = 1;
    for (const Json& dim_value : *shape) {
      SC_CHECK(dim_value.is_number_unsigned(), where, ": shape entries must be non-negative integers, got ",
               dim_value.dump());
      const uint64_t dim = dim_value.get<uint64_t>();
      SC_CHECK(dim <= data_size, where, ": dim ", dim, " is larger than the data buffer");
      dims.push_back(static_cast<int64_t>(dim));
      numel = (numel == 0 || dim == 0) ? 0 : numel * dim;
      SC_CHECK(numel <= data_size, where, ": shape ", shape_str(dims), " is larger than the data buffer");
    }
    SC_CHECK((*offsets)[0].is_number_unsigned() && (*offsets)[1].is_number_unsigned(), where,
             ": data_offsets must be two non-negative integers, got ", offsets->dump());
    const uint64_t begin = (*offsets)[0].get<uint64_t>();
    const uint64_t end = (*offsets)[1].get<uint64_t>();
    SC_CHECK(begin <= end && end <= data_size, where, ": data_offsets [", begin, ", ", end,
             "] fall outside the ", data_size, "-byte data buffer");
    SC_CHECK(end - begin == numel * dtype_size(d), where, ": data_offsets span ", end - begin, " bytes but ",
             dtype_name, shape_str(dims), " needs ", numel * dtype_size(d));
    Tensor tensor = empty(dims, d);
    if (numel > 0) std::memcpy(tensor.raw_data(), bytes.data() + data_start + begin, end - begin);
    placed.push_back({begin, name, tensor});
  }
  // Data-buffer order; stable, so tensors at the same offset (empty ones) keep the header's order.
  std::stable_sort(placed.begin(), placed.end(), [](const Placed& a, const Placed& b) { return a.begin < b.begin; });
  for (auto& p : placed) result.tensors.emplace_back(std::move(p.name), std::move(p.tensor));
  return result;
} catch (const nlohmann::json::exception& e) {
  throw Error("read_safetensors: '" + path + "': unexpected header content: " + e.what());
}

// ---- .npy ------------------------------------------------------------------------------

void write_npy(const std::string& path, const Tensor& tensor) {
  check_exportable(tensor, "the tensor", "write_npy");
  const Tensor data = tensor.contiguous();
  std::string shape = "(";
  for (int64_t d : data.shape()) shape += std::to_string(d) + ", ";
  if (data.dim() == 1) shape.pop_back();  // "(3,)" as Python writes a 1-tuple
  else if (data.dim() > 1) shape.resize(shape.size() - 2);
  shape += ")";
  std::string header =
      std::string("{'descr': '") + npy_descr(data.dtype()) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // magic(6) + version(2) + length(2) + header + '\n' must be a multiple of 64.
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  SC_CHECK(header.size() <= 65535, "write_npy: the header for shape ", data.shape_string(), " is too long");
  write_file_atomically(path, [&](std::FILE* file) {
    const char magic[8] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0};
    const uint16_t header_length = static_cast<uint16_t>(header.size());
    write_bytes(file, magic, 8, path);
    write_bytes(file, &header_length, 2, path);
    write_bytes(file, header.data(), header.size(), path);
    if (data.numel() > 0)
      write_bytes(file, data.raw_data(), static_cast<size_t>(data.numel()) * dtype_size(data.dtype()), path);
  });
}

Tensor read_npy(const std::string& path) {
  const std::string bytes = read_whole_file(path, "read_npy");
  SC_CHECK(bytes.size() >= 10 && bytes.compare(0, 6, "\x93NUMPY") == 0, "read_npy: '", path, "' is not a .npy file");
  SC_CHECK(bytes[6] == 1 && bytes[7] == 0, "read_npy: '", path, "' is .npy version ", int(bytes[6]), ".",
           int(bytes[7]), "; only 1.0 is supported");
  uint16_t header_length = 0;
  std::memcpy(&header_length, bytes.data() + 8, 2);
  SC_CHECK(10u + header_length <= bytes.size(), "read_npy: '", path, "' is truncated inside its header");
  const std::string header = bytes.substr(10, header_length);
  // The header is a Python dict literal. Each lookup below stays inside `header` and throws
  // an sc::Error when something is missing: a fuzzer found that the first version, built on
  // find() positions and std::stoll, could throw std::out_of_range on a damaged header.
  auto bad = [&](const std::string& what) {
    return Error("read_npy: '" + path + "' has a bad header (" + what + "): " + header);
  };
  // The text right after "'key':" and any spaces.
  auto value_of = [&](const std::string& key) {
    const size_t at = header.find("'" + key + "':");
    if (at == std::string::npos) throw bad("no '" + key + "'");
    const size_t value = header.find_first_not_of(' ', at + key.size() + 3);
    return std::string_view(header).substr(std::min(value, header.size()));
  };
  const std::string_view descr_text = value_of("descr");
  const size_t descr_end = descr_text.find('\'', 1);
  if (!descr_text.starts_with('\'') || descr_end == std::string_view::npos) throw bad("'descr' is not a quoted string");
  const std::string descr(descr_text.substr(1, descr_end - 1));
  DType d;
  if (descr == "<f4") d = DType::Float32;
  else if (descr == "<f8") d = DType::Float64;
  else if (descr == "<i8") d = DType::Int64;
  else if (descr == "<i4") d = DType::Int32;
  else throw Error("read_npy: '" + path + "' has dtype '" + descr + "'; only <f4, <f8, <i8, <i4 are supported");
  SC_CHECK(value_of("fortran_order").starts_with("False"), "read_npy: '", path,
           "' is in Fortran order; only C order is supported");
  const std::string_view shape_text = value_of("shape");
  const size_t close = shape_text.find(')');
  if (!shape_text.starts_with('(') || close == std::string_view::npos) throw bad("'shape' is not a tuple");
  // "(3, 4)", "(5,)" or "()": decimal dims separated by commas, with optional spaces.
  Shape shape;
  uint64_t numel = 1;
  std::string_view rest = shape_text.substr(1, close - 1);
  while (!rest.empty()) {
    const size_t comma = std::min(rest.find(','), rest.size());
    std::string_view piece = rest.substr(0, comma);
    rest.remove_prefix(std::min(comma + 1, rest.size()));
    while (piece.starts_with(' ')) piece.remove_prefix(1);
    while (piece.ends_with(' ')) piece.remove_suffix(1);
    if (piece.empty() && rest.empty()) break;  // the trailing comma of "(5,)"
    if (piece.empty() || piece.find_first_not_of("0123456789") != std::string_view::npos)
      throw bad("shape entry '" + std::string(piece) + "' is not a whole number");
    uint64_t dim = 0;
    for (const char c : piece) {
      dim = dim * 10 + static_cast<uint64_t>(c - '0');
      // No dim can exceed the file size (each element is at least one byte), so this bound
      // keeps the arithmetic here and below far from overflowing.
      SC_CHECK(dim <= bytes.size(), "read_npy: '", path, "' has dim ", piece, ", more than the file's ", bytes.size(),
               " bytes");
    }
    shape.push_back(static_cast<int64_t>(dim));
    numel *= dim;
    SC_CHECK(numel <= bytes.size(), "read_npy: '", path, "' shape ", shape_str(shape), " exceeds the file size");
  }
  const uint64_t data_bytes = numel * dtype_size(d);
  SC_CHECK(bytes.size() - 10 - header_length == data_bytes, "read_npy: '", path, "' holds ",
           bytes.size() - 10 - header_length, " data bytes but ", descr, shape_str(shape), " needs ", data_bytes);
  Tensor tensor = empty(shape, d);
  if (data_bytes > 0) std::memcpy(tensor.raw_data(), bytes.data() + 10 + header_length, data_bytes);
  return tensor;
}

}  // namespace sc::ssl
