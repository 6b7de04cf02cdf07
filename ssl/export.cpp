#include "ssl/export.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

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

// ---- a JSON reader for the safetensors header ---------------------------------------
// Only what the header uses: objects, arrays, strings, non-negative integers (plus true,
// false, null, skipped). Nesting is limited so a hostile header cannot exhaust the stack.
struct JsonValue {
  enum class Kind { Object, Array, String, Number, Other } kind = Kind::Other;
  std::vector<std::pair<std::string, JsonValue>> object;
  std::vector<JsonValue> array;
  std::string string;
  uint64_t number = 0;
};

class JsonParser {
 public:
  JsonParser(const std::string& text, const std::string& path) : text_(text), path_(path) {}

  JsonValue parse_document() {
    JsonValue v = parse_value(0);
    skip_space();
    check(pos_ == text_.size(), "unexpected text after the header object");
    return v;
  }

 private:
  void check(bool ok, const std::string& problem) const {
    SC_CHECK(ok, "read_safetensors: '", path_, "' has a bad JSON header at byte ", pos_, ": ", problem);
  }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\r' || text_[pos_] == '\t'))
      ++pos_;
  }
  char peek() {
    skip_space();
    check(pos_ < text_.size(), "unexpected end of the header");
    return text_[pos_];
  }
  void expect(char c) {
    check(peek() == c, std::string("expected '") + c + "'");
    ++pos_;
  }

  JsonValue parse_value(int depth) {
    check(depth < 16, "nested too deeply");
    JsonValue v;
    const char c = peek();
    if (c == '{') {
      v.kind = JsonValue::Kind::Object;
      ++pos_;
      if (peek() == '}') {
        ++pos_;
        return v;
      }
      while (true) {
        std::string key = parse_string();
        expect(':');
        v.object.emplace_back(std::move(key), parse_value(depth + 1));
        if (peek() == ',') {
          ++pos_;
          continue;
        }
        expect('}');
        return v;
      }
    }
    if (c == '[') {
      v.kind = JsonValue::Kind::Array;
      ++pos_;
      if (peek() == ']') {
        ++pos_;
        return v;
      }
      while (true) {
        v.array.push_back(parse_value(depth + 1));
        if (peek() == ',') {
          ++pos_;
          continue;
        }
        expect(']');
        return v;
      }
    }
    if (c == '"') {
      v.kind = JsonValue::Kind::String;
      v.string = parse_string();
      return v;
    }
    if (c >= '0' && c <= '9') {
      v.kind = JsonValue::Kind::Number;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
        const uint64_t digit = static_cast<uint64_t>(text_[pos_] - '0');
        check(v.number <= (UINT64_MAX - digit) / 10, "integer too large");
        v.number = v.number * 10 + digit;
        ++pos_;
      }
      check(pos_ >= text_.size() || (text_[pos_] != '.' && text_[pos_] != 'e' && text_[pos_] != 'E'),
            "only non-negative integers are expected here");
      return v;
    }
    for (const char* word : {"true", "false", "null"}) {
      if (text_.compare(pos_, std::strlen(word), word) == 0) {
        pos_ += std::strlen(word);
        return v;
      }
    }
    check(false, std::string("unexpected character '") + c + "'");
    return v;
  }

  std::string parse_string() {
    expect('"');
    std::string out;
    while (true) {
      check(pos_ < text_.size(), "unterminated string");
      const char c = text_[pos_++];
      if (c == '"') return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      check(pos_ < text_.size(), "unterminated escape");
      const char e = text_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          check(pos_ + 4 <= text_.size(), "short \\u escape");
          const unsigned code = static_cast<unsigned>(std::stoul(text_.substr(pos_, 4), nullptr, 16));
          pos_ += 4;
          // UTF-8 encode (surrogate pairs are kept as two 3-byte sequences; names we write are ASCII).
          if (code < 0x80) {
            out += static_cast<char>(code);
          } else if (code < 0x800) {
            out += static_cast<char>(0xC0 | (code >> 6));
            out += static_cast<char>(0x80 | (code & 0x3F));
          } else {
            out += static_cast<char>(0xE0 | (code >> 12));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (code & 0x3F));
          }
          break;
        }
        default: check(false, std::string("unknown escape \\") + e);
      }
    }
  }

  const std::string& text_;
  const std::string& path_;
  size_t pos_ = 0;
};

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buffer[8];
      std::snprintf(buffer, sizeof(buffer), "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
      out += buffer;
    } else {
      out += c;
    }
  }
  return out + "\"";
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
  std::string header = "{";
  uint64_t offset = 0;
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [key, value] : metadata) {
      if (!first) header += ',';
      header += json_string(key);
      header += ':';
      header += json_string(value);
      first = false;
    }
    header += "}";
  }
  for (const auto& [name, tensor] : tensors) {
    check_exportable(tensor, "tensor '" + name + "'", "write_safetensors");
    SC_CHECK(!name.empty() && name != "__metadata__", "write_safetensors: '", name, "' cannot be a tensor name");
    SC_CHECK(names.insert(name).second, "write_safetensors: two tensors are named '", name, "'");
    contiguous.push_back(tensor.contiguous());
    const uint64_t bytes = static_cast<uint64_t>(tensor.numel()) * dtype_size(tensor.dtype());
    std::string shape = "[";
    for (size_t d = 0; d < tensor.shape().size(); ++d) {
      if (d > 0) shape += ',';
      shape += std::to_string(tensor.shape()[d]);
    }
    shape += "]";
    if (header.size() > 1) header += ',';
    header += json_string(name) + ":{\"dtype\":\"" +
              safetensors_dtype(tensor.dtype()) + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
              std::to_string(offset) + "," + std::to_string(offset + bytes) + "]}";
    offset += bytes;
  }
  header += "}";
  // Pad with spaces (valid JSON whitespace) so the data buffer starts 8-byte aligned.
  while ((8 + header.size()) % 8 != 0) header += ' ';

  write_file_atomically(path, [&](std::FILE* file) {
    const uint64_t header_length = header.size();
    write_bytes(file, &header_length, 8, path);
    write_bytes(file, header.data(), header.size(), path);
    for (const Tensor& t : contiguous)
      if (t.numel() > 0) write_bytes(file, t.raw_data(), static_cast<size_t>(t.numel()) * dtype_size(t.dtype()), path);
  });
}

SafetensorsFile read_safetensors(const std::string& path) {
  const std::string bytes = read_whole_file(path, "read_safetensors");
  SC_CHECK(bytes.size() >= 8, "read_safetensors: '", path, "' is too short (", bytes.size(), " bytes)");
  uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  SC_CHECK(header_length <= bytes.size() - 8, "read_safetensors: '", path, "' claims a ", header_length,
           "-byte header but the file is ", bytes.size(), " bytes");
  const std::string header = bytes.substr(8, header_length);
  const uint64_t data_start = 8 + header_length;
  const uint64_t data_size = bytes.size() - data_start;

  const JsonValue root = JsonParser(header, path).parse_document();
  SC_CHECK(root.kind == JsonValue::Kind::Object, "read_safetensors: '", path, "': the header is not a JSON object");
  SafetensorsFile result;
  struct Placed {
    uint64_t begin;
    std::string name;
    Tensor tensor;
  };
  std::vector<Placed> placed;
  for (const auto& [name, entry] : root.object) {
    if (name == "__metadata__") {
      SC_CHECK(entry.kind == JsonValue::Kind::Object, "read_safetensors: '", path, "': __metadata__ is not an object");
      for (const auto& [key, value] : entry.object) {
        SC_CHECK(value.kind == JsonValue::Kind::String, "read_safetensors: '", path, "': metadata '", key,
                 "' is not a string");
        result.metadata[key] = value.string;
      }
      continue;
    }
    const std::string where = "read_safetensors: '" + path + "': tensor '" + name + "'";
    SC_CHECK(entry.kind == JsonValue::Kind::Object, where, " is not a JSON object");
    const JsonValue* dtype = nullptr;
    const JsonValue* shape = nullptr;
    const JsonValue* offsets = nullptr;
    for (const auto& [key, value] : entry.object) {
      if (key == "dtype") dtype = &value;
      if (key == "shape") shape = &value;
      if (key == "data_offsets") offsets = &value;
    }
    SC_CHECK(dtype && dtype->kind == JsonValue::Kind::String, where, " has no \"dtype\" string");
    SC_CHECK(shape && shape->kind == JsonValue::Kind::Array, where, " has no \"shape\" array");
    SC_CHECK(offsets && offsets->kind == JsonValue::Kind::Array && offsets->array.size() == 2, where,
             " has no \"data_offsets\" pair");
    DType d;
    if (dtype->string == "F32") d = DType::Float32;
    else if (dtype->string == "F64") d = DType::Float64;
    else if (dtype->string == "I64") d = DType::Int64;
    else if (dtype->string == "I32") d = DType::Int32;
    else throw Error(where + " has dtype \"" + dtype->string + "\"; only F32, F64, I64, I32 are supported");
    Shape dims;
    uint64_t numel = 1;
    for (const JsonValue& dim : shape->array) {
      SC_CHECK(dim.kind == JsonValue::Kind::Number, where, ": shape entries must be integers");
      SC_CHECK(dim.number <= data_size, where, ": dim ", dim.number, " is larger than the data buffer");
      dims.push_back(static_cast<int64_t>(dim.number));
      numel = (numel == 0 || dim.number == 0) ? 0 : numel * dim.number;
      SC_CHECK(numel <= data_size, where, ": shape ", shape_str(dims), " is larger than the data buffer");
    }
    const uint64_t begin = offsets->array[0].number;
    const uint64_t end = offsets->array[1].number;
    SC_CHECK(offsets->array[0].kind == JsonValue::Kind::Number && offsets->array[1].kind == JsonValue::Kind::Number &&
                 begin <= end && end <= data_size,
             where, ": data_offsets [", begin, ", ", end, "] fall outside the ", data_size, "-byte data buffer");
    SC_CHECK(end - begin == numel * dtype_size(d), where, ": data_offsets span ", end - begin, " bytes but ",
             dtype->string, shape_str(dims), " needs ", numel * dtype_size(d));
    Tensor tensor = empty(dims, d);
    if (numel > 0) std::memcpy(tensor.raw_data(), bytes.data() + data_start + begin, end - begin);
    placed.push_back({begin, name, tensor});
  }
  std::stable_sort(placed.begin(), placed.end(), [](const Placed& a, const Placed& b) { return a.begin < b.begin; });
  for (auto& p : placed) result.tensors.emplace_back(std::move(p.name), std::move(p.tensor));
  return result;
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
  auto field = [&](const std::string& key) {
    const size_t at = header.find("'" + key + "':");
    SC_CHECK(at != std::string::npos, "read_npy: '", path, "' header has no '", key, "': ", header);
    return at + key.size() + 3;
  };
  size_t at = header.find('\'', field("descr"));
  const std::string descr = header.substr(at + 1, header.find('\'', at + 1) - at - 1);
  DType d;
  if (descr == "<f4") d = DType::Float32;
  else if (descr == "<f8") d = DType::Float64;
  else if (descr == "<i8") d = DType::Int64;
  else if (descr == "<i4") d = DType::Int32;
  else throw Error("read_npy: '" + path + "' has dtype '" + descr + "'; only <f4, <f8, <i8, <i4 are supported");
  SC_CHECK(header.compare(header.find_first_not_of(' ', field("fortran_order")), 5, "False") == 0, "read_npy: '", path,
           "' is in Fortran order; only C order is supported");
  at = header.find('(', field("shape"));
  const size_t close = header.find(')', at);
  SC_CHECK(at != std::string::npos && close != std::string::npos, "read_npy: '", path, "' has a bad shape: ", header);
  Shape shape;
  uint64_t numel = 1;
  std::stringstream dims(header.substr(at + 1, close - at - 1));
  std::string piece;
  while (std::getline(dims, piece, ',')) {
    if (piece.find_first_not_of(' ') == std::string::npos) continue;
    const int64_t dim = std::stoll(piece);
    SC_CHECK(dim >= 0 && static_cast<uint64_t>(dim) <= bytes.size(), "read_npy: '", path, "' has a bad dim ", dim);
    shape.push_back(dim);
    numel *= static_cast<uint64_t>(dim);
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
