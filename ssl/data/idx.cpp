#include "ssl/data/idx.h"

#include <filesystem>
#include <iomanip>
#include <sstream>

#include "base/error.h"
#include "ssl/data/byte_reader.h"

namespace sc::ssl {

namespace {

uint32_t big_endian_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string hex32(uint32_t v) {
  std::ostringstream os;
  os << "0x" << std::hex << std::setw(8) << std::setfill('0') << v;
  return os.str();
}

std::string dims_str(const std::vector<uint32_t>& dims) {
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? " x " : "") + std::to_string(dims[i]);
  return s;
}

}  // namespace

IdxArray read_idx(const std::string& path, uint32_t expected_magic, uint64_t max_item_bytes) {
  ByteReader in(path);
  uint8_t head[4];
  SC_CHECK(in.read(head, 4) == 4, "IDX file ", path, " is truncated: shorter than its 4-byte magic number");
  const uint32_t magic = big_endian_u32(head);
  SC_CHECK(magic == expected_magic, "IDX file ", path, " has bad magic number ", hex32(magic), " (expected ",
           hex32(expected_magic), (expected_magic == 0x803 ? ", an image file" : ", a label file"), ")");

  IdxArray out;
  const uint32_t ndims = magic & 0xff;
  std::vector<uint8_t> dim_bytes(4 * ndims);
  SC_CHECK(in.read(dim_bytes.data(), dim_bytes.size()) == dim_bytes.size(), "IDX file ", path,
           " is truncated inside its header (", ndims, " dims expected)");
  uint64_t payload = 1;
  for (uint32_t d = 0; d < ndims; ++d) {
    const uint32_t dim = big_endian_u32(dim_bytes.data() + 4 * d);
    out.dims.push_back(dim);
  }
  for (uint32_t dim : out.dims) {
    SC_CHECK(dim > 0, "IDX file ", path, " has a zero dimension in its header (", dims_str(out.dims), ")");
    // Three uint32 dims can overflow 64 bits; check before multiplying.
    SC_CHECK(!__builtin_mul_overflow(payload, uint64_t{dim}, &payload), "IDX file ", path, ": header dimensions ",
             dims_str(out.dims), " overflow 64 bits when multiplied");
  }
  SC_CHECK(max_item_bytes == 0 || payload / out.dims[0] <= max_item_bytes, "IDX file ", path, ": its items are ",
           dims_str(std::vector<uint32_t>(out.dims.begin() + 1, out.dims.end())), ", more than the limit of ",
           max_item_bytes, " bytes (pixels) per item");
  SC_CHECK(payload <= kMaxDataFileBytes, "IDX file ", path, ": header dimensions ", dims_str(out.dims), " describe ",
           payload, " bytes, more than the ", kMaxDataFileBytes, "-byte limit (a corrupt header?)");

  out.data = in.read_up_to(payload);
  SC_CHECK(out.data.size() == payload, "IDX file ", path, " is truncated: its header (", dims_str(out.dims),
           ") declares ", payload, " data bytes, the file holds ", out.data.size());
  const uint64_t trailing = in.count_remaining();
  SC_CHECK(trailing == 0, "IDX file ", path, " has ", trailing, " trailing bytes after the ", payload,
           " data bytes its header (", dims_str(out.dims), ") declares");
  return out;
}

Dataset load_idx(const std::string& images_path, const std::string& labels_path, int64_t num_classes,
                 const std::string& name) {
  SC_CHECK(num_classes > 0 && num_classes <= 256, "load_idx: num_classes must be in [1, 256], got ", num_classes);
  IdxArray images = read_idx(images_path, 0x00000803, kMaxImagePixels);
  IdxArray labels = read_idx(labels_path, 0x00000801);
  SC_CHECK(images.dims[0] == labels.dims[0], "IDX count mismatch: ", images_path, " holds ", images.dims[0], " images but ",
           labels_path, " holds ", labels.dims[0], " labels");
  std::vector<int64_t> label_values(labels.data.size());
  for (size_t i = 0; i < labels.data.size(); ++i) {
    SC_CHECK(labels.data[i] < num_classes, "IDX labels file ", labels_path, ": label ", int{labels.data[i]}, " of item ", i,
             " is outside [0, ", num_classes, ")");
    label_values[i] = labels.data[i];
  }
  return Dataset(name.empty() ? images_path : name, 1, images.dims[1], images.dims[2], std::move(images.data),
                 std::move(label_values), num_classes);
}

Dataset load_mnist_folder(const std::string& dir, const std::string& split, int64_t num_classes) {
  SC_CHECK(split == "train" || split == "test", "load_mnist_folder: split must be \"train\" or \"test\", got \"", split,
           "\"");
  const std::string prefix = split == "train" ? "train" : "t10k";
  auto find = [&](const std::string& base) {
    const std::filesystem::path folder(dir);
    for (const std::string& candidate : {base + ".gz", base})
      if (std::filesystem::is_regular_file(folder / candidate)) return (folder / candidate).string();
    throw Error(detail::concat("dataset folder ", dir, " has neither ", base, ".gz nor ", base));
  };
  const std::string images = find(prefix + "-images-idx3-ubyte");
  const std::string labels = find(prefix + "-labels-idx1-ubyte");
  // "fashion-mnist/train": the folder's own name, also when `dir` ends with a slash.
  const std::filesystem::path normal = std::filesystem::path(dir).lexically_normal();
  const std::string folder_name = normal.has_filename() ? normal.filename().string() : normal.parent_path().filename().string();
  const std::string name = folder_name + "/" + split;
  return load_idx(images, labels, num_classes, name);
}

Dataset load_fashion_mnist(const std::string& split, const std::string& dir) {
  return load_mnist_folder(dir, split, 10);
}

}  // namespace sc::ssl
