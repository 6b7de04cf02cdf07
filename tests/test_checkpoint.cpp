// Checkpoints (round trip, every corruption class, atomic writes, architecture checks) and
// the export formats (safetensors, .npy: round trips, byte-level headers, and numpy reading
// our files when /usr/bin/python3 has numpy).
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "core/ops.h"
#include "ssl/checkpoint.h"
#include "ssl/export.h"

#include "tests/test_util.h"

using namespace sc;
using namespace sc::test;
using namespace sc::ssl;
namespace fs = std::filesystem;

namespace {




std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Element-wise exact equality, dtype and shape included.
bool same_tensor(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  if (a.numel() == 0) return true;
  return std::memcmp(ca.raw_data(), cb.raw_data(), static_cast<size_t>(a.numel()) * dtype_size(a.dtype())) == 0;
}

Checkpoint sample_checkpoint(Generator& gen) {
  Checkpoint c;
  c.config = "{\"encoder\": \"convnet\",\n \"width\": 16}\n with a NUL: " + std::string(1, '\0') + " end";
  c.step = 123456789012LL;
  c.epoch = 7;
  c.model = {
      {"encoder.conv.weight", randn({4, 1, 3, 3}, gen)},
      {"encoder.bn.running_var", rand({4}, gen, DType::Float64)},
      {"encoder.bn.num_batches_tracked", from_vector(std::vector<int64_t>{42}, {})},  // 0-dim int64
      {"head.scale", scalar_tensor(2.5)},                                               // 0-dim float32
      {"head.empty", zeros({0, 5})},                                                    // no elements
      {"head.index", zeros({3}, DType::Int32)},
      {"head.transposed", randn({3, 5}, gen).t()},  // non-contiguous: saved in row-major order
  };
  c.optimizer = {{"encoder.conv.weight.exp_avg", randn({4, 1, 3, 3}, gen)},
                 {"step", from_vector(std::vector<int64_t>{100}, {1})}};
  Generator loader(99);
  loader.normal();  // leaves a spare normal inside the state
  c.rng = {{"init", gen.state()}, {"loader", loader.state()}};
  return c;
}

// Byte offset of a tensor's first dim and of its data, found from its (unique) name.
struct TensorLayout {
  size_t dims;
  size_t data;
};
TensorLayout layout_of(const std::string& bytes, const std::string& name, int ndim) {
  const size_t at = bytes.find(name);
  REQUIRE(at != std::string::npos);
  const size_t dims = at + name.size() + 1 /*dtype*/ + 4 /*ndim*/;
  return {dims, dims + 8 * static_cast<size_t>(ndim) + 8 /*byte count*/};
}

}  // namespace

// ---- checkpoints ------------------------------------------------------------------------

TEST_CASE("ssl: checkpoint round trip keeps tensors, config, step, epoch and RNG states") {
  TempDir dir;
  Generator gen(5);
  const Checkpoint saved = sample_checkpoint(gen);
  const std::string path = dir.file("ckpt.bin");
  save_checkpoint(path, saved);
  CHECK_FALSE(fs::exists(path + ".tmp"));

  const Checkpoint loaded = load_checkpoint(path);
  CHECK(loaded.config == saved.config);
  CHECK(loaded.config.size() == saved.config.size());  // the NUL survived
  CHECK(loaded.step == saved.step);
  CHECK(loaded.epoch == saved.epoch);
  REQUIRE(loaded.model.size() == saved.model.size());
  for (size_t i = 0; i < saved.model.size(); ++i) {
    CAPTURE(saved.model[i].first);
    CHECK(loaded.model[i].first == saved.model[i].first);
    CHECK(same_tensor(loaded.model[i].second, saved.model[i].second));
  }
  CHECK(loaded.model_tensor("encoder.bn.num_batches_tracked").dim() == 0);
  CHECK(loaded.model_tensor("head.scale").item() == 2.5);
  CHECK(loaded.model_tensor("head.empty").shape() == Shape{0, 5});
  REQUIRE(loaded.optimizer.size() == 2);
  CHECK(same_tensor(loaded.optimizer_tensor("encoder.conv.weight.exp_avg"),
                    saved.optimizer_tensor("encoder.conv.weight.exp_avg")));

  // A generator restored from the checkpoint continues exactly where the saved one was.
  for (const char* name : {"init", "loader"}) {
    CAPTURE(name);
    Generator original(0), restored(12345);
    original.set_state(saved.rng_state(name));
    restored.set_state(loaded.rng_state(name));
    for (int i = 0; i < 50; ++i) {
      CHECK(original.normal() == restored.normal());  // the first one is the saved spare for "loader"
      CHECK(original.next_u64() == restored.next_u64());
    }
  }

  CHECK(contains(message_of([&] { (void)loaded.model_tensor("nope"); }), "no model entry named 'nope'"));
  CHECK(contains(message_of([&] { (void)loaded.rng_state("augment"); }), "no rng entry named 'augment'"));
}

TEST_CASE("ssl: checkpoint corruption gives an error naming the file and the problem") {
  TempDir dir;
  Generator gen(6);
  const std::string good_path = dir.file("good.ckpt");
  save_checkpoint(good_path, sample_checkpoint(gen));
  const std::string good = read_bytes(good_path);
  const std::string bad_path = dir.file("bad.ckpt");
  auto load_error = [&](const std::string& bytes) {
    write_bytes(bad_path, bytes);
    return message_of([&] { load_checkpoint(bad_path); });
  };

  SUBCASE("a flipped data byte names the tensor") {
    std::string bytes = good;
    bytes[layout_of(good, "encoder.conv.weight", 4).data + 5] ^= 0x10;
    const std::string msg = load_error(bytes);
    CHECK(contains(msg, bad_path));
    CHECK(contains(msg, "checksum mismatch in model tensor 'encoder.conv.weight'"));
  }
  SUBCASE("a flipped byte in an optimizer tensor and in an RNG state") {
    std::string bytes = good;
    bytes[layout_of(good, "encoder.conv.weight.exp_avg", 4).data] ^= 0x01;
    CHECK(contains(load_error(bytes), "checksum mismatch in optimizer tensor 'encoder.conv.weight.exp_avg'"));
    bytes = good;
    bytes[good.find("loader") + 6 + 3] ^= 0x01;  // inside the first state word
    CHECK(contains(load_error(bytes), "checksum mismatch in rng state 'loader'"));
  }
  SUBCASE("a flipped byte in the config is caught by the whole-file checksum") {
    std::string bytes = good;
    bytes[good.find("convnet")] = 'C';
    CHECK(contains(load_error(bytes), "whole-file checksum mismatch"));
  }
  SUBCASE("truncation at several offsets") {
    for (size_t keep : {size_t{0}, size_t{5}, size_t{8}, size_t{30}, good.size() / 2, good.size() - 17,
                        good.size() - 16, good.size() - 1}) {
      CAPTURE(keep);
      const std::string msg = load_error(good.substr(0, keep));
      CHECK(contains(msg, bad_path));
      if (keep < 8)
        CHECK(contains(msg, "is not a checkpoint: only"));
      else
        CHECK(contains(msg, "is truncated"));
    }
  }
  SUBCASE("bytes cut from the middle (the trailer intact)") {
    const size_t cut = layout_of(good, "encoder.conv.weight", 4).data + 8;
    const std::string msg = load_error(good.substr(0, cut) + good.substr(cut + 24));
    CHECK(contains(msg, bad_path));
    CHECK(contains(msg, "corrupt"));
  }
  SUBCASE("bad magic") {
    std::string bytes = good;
    bytes[0] = 'X';
    CHECK(contains(load_error(bytes), "is not a simclr.cpp checkpoint (bad magic"));
    CHECK(contains(load_error("hello, world, this is a text file"), "bad magic"));
  }
  SUBCASE("unsupported version") {
    std::string bytes = good;
    bytes[6] = 2;
    bytes[7] = 0;
    CHECK(contains(load_error(bytes), "unsupported format version 2 (this build reads version 1)"));
  }
  SUBCASE("a header claiming 2^60 elements is refused before allocating") {
    std::string bytes = good;
    const int64_t huge = int64_t{1} << 60;
    std::memcpy(&bytes[layout_of(good, "encoder.conv.weight", 4).dims], &huge, 8);
    const std::string msg = load_error(bytes);
    CHECK(contains(msg, "model tensor 'encoder.conv.weight' claims shape [1152921504606846976, 1, 3, 3]"));
    CHECK(contains(msg, bad_path));
  }
  SUBCASE("a negative dim and a wrong byte count") {
    std::string bytes = good;
    const int64_t negative = -3;
    const TensorLayout at = layout_of(good, "encoder.conv.weight", 4);
    std::memcpy(&bytes[at.dims], &negative, 8);
    CHECK(contains(load_error(bytes), "has a negative dim -3"));
    bytes = good;
    const uint64_t wrong = 12;
    std::memcpy(&bytes[at.data - 8], &wrong, 8);
    CHECK(contains(load_error(bytes), "says it holds 12 bytes, expected 144"));
  }
  SUBCASE("a missing file") {
    CHECK(contains(message_of([&] { load_checkpoint(dir.file("absent.ckpt")); }), "cannot open"));
  }
}

TEST_CASE("ssl: checkpoint writes are atomic and a failed write keeps the old file") {
  TempDir dir;
  Generator gen(7);
  const std::string path = dir.file("last.ckpt");
  Checkpoint first = sample_checkpoint(gen);
  first.step = 1;
  save_checkpoint(path, first);
  CHECK_FALSE(fs::exists(path + ".tmp"));

  Checkpoint second = sample_checkpoint(gen);
  second.step = 2;
  // Overwriting works and leaves no temporary behind.
  save_checkpoint(path, second);
  CHECK(load_checkpoint(path).step == 2);
  CHECK_FALSE(fs::exists(path + ".tmp"));

  SUBCASE("the temporary file cannot be created") {
    fs::create_directory(path + ".tmp");  // fopen on a directory fails, even for root
    const std::string msg = message_of([&] { save_checkpoint(path, first); });
    CHECK(contains(msg, "cannot write '" + path + "'"));
    CHECK(load_checkpoint(path).step == 2);
  }
  SUBCASE("an invalid tensor is refused before the disk is touched") {
    Checkpoint broken = first;
    broken.model.emplace_back("late.undefined", Tensor());
    CHECK(contains(message_of([&] { save_checkpoint(path, broken); }), "model tensor 'late.undefined' is undefined"));
    broken = first;
    broken.optimizer.emplace_back("step", zeros({1}));
    CHECK(contains(message_of([&] { save_checkpoint(path, broken); }), "two entries named 'step'"));
    CHECK(load_checkpoint(path).step == 2);
    CHECK_FALSE(fs::exists(path + ".tmp"));
  }
  SUBCASE("a directory that does not exist") {
    CHECK(contains(message_of([&] { save_checkpoint(dir.file("no/such/dir/x.ckpt"), first); }), "cannot write"));
  }
  SUBCASE("an unwritable directory") {
    if (::geteuid() == 0) {
      MESSAGE("skipped the read-only directory case: running as root, which may write anywhere");
    } else {
      fs::permissions(dir.path, fs::perms::owner_read | fs::perms::owner_exec);
      CHECK(contains(message_of([&] { save_checkpoint(path, first); }), "cannot write"));
      fs::permissions(dir.path, fs::perms::owner_all);
      CHECK(load_checkpoint(path).step == 2);
    }
  }
}

TEST_CASE("ssl: check_compatible names the first mismatched tensor") {
  const NamedTensors model = {{"conv.weight", zeros({8, 1, 3, 3})}, {"conv.bias", zeros({8})}};
  const std::vector<std::pair<std::string, Shape>> expected = {{"conv.weight", {8, 1, 3, 3}}, {"conv.bias", {8}}};
  CHECK_NOTHROW(check_compatible(expected, model, "run/last.ckpt"));
  CHECK_NOTHROW(check_compatible(model, model));

  const NamedTensors missing = {{"conv.weight", zeros({8, 1, 3, 3})}};
  CHECK(contains(message_of([&] { check_compatible(expected, missing, "run/last.ckpt"); }),
                 "run/last.ckpt does not match the model: missing tensor 'conv.bias' (the model expects shape [8]"));
  const NamedTensors extra = {{"conv.weight", zeros({8, 1, 3, 3})}, {"conv.bias", zeros({8})}, {"fc.weight", zeros({2})}};
  CHECK(contains(message_of([&] { check_compatible(expected, extra); }), "unexpected tensor 'fc.weight'"));
  const NamedTensors wider = {{"conv.weight", zeros({16, 1, 3, 3})}, {"conv.bias", zeros({16})}};
  CHECK(contains(message_of([&] { check_compatible(expected, wider); }),
                 "tensor 'conv.weight' has shape [16, 1, 3, 3] in the checkpoint but the model expects [8, 1, 3, 3]"));
  const NamedTensors doubles = {{"conv.weight", zeros({8, 1, 3, 3}, DType::Float64)}, {"conv.bias", zeros({8})}};
  CHECK(contains(message_of([&] { check_compatible(model, doubles); }),
                 "tensor 'conv.weight' is float64 in the checkpoint but the model expects float32"));
}

// ---- safetensors --------------------------------------------------------------------------

TEST_CASE("ssl: safetensors round trip and header layout") {
  TempDir dir;
  Generator gen(8);
  const NamedTensors tensors = {
      {"encoder.conv1.weight", randn({4, 1, 3, 3}, gen)},
      {"encoder.bn1.running_var", rand({4}, gen, DType::Float64)},
      {"encoder.bn1.num_batches_tracked", from_vector(std::vector<int64_t>{7}, {})},
      {"labels", from_vector(std::vector<int64_t>{3, -1, 9}, {3})},
      {"empty", zeros({0, 3})},
      {"strided", randn({2, 3}, gen).t()},
  };
  const std::string path = dir.file("encoder.safetensors");
  write_safetensors(path, tensors,
                    {{"format", "pt"},
                     {"note", "quote \" and backslash \\"},
                     {"control", "tab\t newline\n \x01"},
                     {"unicode", "\u00b5 \u00e4 \u732b"}});
  CHECK_FALSE(fs::exists(path + ".tmp"));

  const SafetensorsFile loaded = read_safetensors(path);
  REQUIRE(loaded.tensors.size() == tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    CAPTURE(tensors[i].first);
    CHECK(loaded.tensors[i].first == tensors[i].first);
    CHECK(same_tensor(loaded.tensors[i].second, tensors[i].second));
  }
  CHECK(loaded.metadata.at("format") == "pt");
  CHECK(loaded.metadata.at("note") == "quote \" and backslash \\");
  CHECK(loaded.metadata.at("control") == "tab\t newline\n \x01");
  CHECK(loaded.metadata.at("unicode") == "\u00b5 \u00e4 \u732b");

  // Byte layout: u64 LE header length, JSON padded with spaces to 8-byte alignment, data.
  const std::string bytes = read_bytes(path);
  uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  CHECK((8 + header_length) % 8 == 0);
  const std::string header = bytes.substr(8, header_length);
  CHECK(header.front() == '{');
  CHECK(header.find_last_not_of(' ') == header.rfind('}'));
  CHECK(contains(header, "\"encoder.conv1.weight\":{\"dtype\":\"F32\",\"shape\":[4,1,3,3],\"data_offsets\":[0,144]}"));
  CHECK(contains(header, "\"encoder.bn1.running_var\":{\"dtype\":\"F64\",\"shape\":[4],\"data_offsets\":[144,176]}"));
  CHECK(contains(header, "\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[176,184]"));
  const uint64_t data_bytes = 144 + 32 + 8 + 24 + 0 + 24;
  CHECK(bytes.size() == 8 + header_length + data_bytes);
  float first_weight = 0;
  std::memcpy(&first_weight, bytes.data() + 8 + header_length, 4);
  CHECK(first_weight == tensors[0].second.contiguous().data<float>()[0]);
}

TEST_CASE("ssl: safetensors errors") {
  TempDir dir;
  const std::string path = dir.file("t.safetensors");
  CHECK(contains(message_of([&] { write_safetensors(path, {{"a", zeros({1})}, {"a", zeros({1})}}); }),
                 "two tensors are named 'a'"));
  CHECK(contains(message_of([&] { write_safetensors(path, {{"a", Tensor()}}); }), "tensor 'a' is undefined"));
  // JSON strings are UTF-8: a name that is not is an sc::Error, not a JSON library exception.
  CHECK(contains(message_of([&] { write_safetensors(path, {{"bad\xff", zeros({1})}}); }),
                 "a tensor name or metadata entry cannot be written as JSON"));

  auto file_with_header = [&](const std::string& header, size_t data_bytes) {
    std::string bytes(8, '\0');
    const uint64_t n = header.size();
    std::memcpy(bytes.data(), &n, 8);
    write_bytes(path, bytes + header + std::string(data_bytes, '\0'));
    return message_of([&] { read_safetensors(path); });
  };
  CHECK(contains(file_with_header(R"({"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}})", 4),
                 "tensor 'w' has dtype \"BF16\"; only F32, F64, I64, I32 are supported"));
  CHECK(contains(file_with_header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,12]}})", 8),
                 "fall outside the 8-byte data buffer"));
  CHECK(contains(file_with_header(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
                 "data_offsets span 8 bytes but F32[3] needs 12"));
  // A truncated header: the error names the file, says the JSON is bad, and where.
  const std::string truncated = file_with_header(R"({"w":{"dtype":"F32","shape":[2])", 8);
  CHECK(contains(truncated, "read_safetensors: '" + path + "' has a bad JSON header at byte "));
  CHECK(contains(truncated, "unexpected end of input"));
  CHECK_FALSE(contains(truncated, "json.exception"));  // nlohmann's tag is not part of our message
  CHECK(contains(file_with_header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} x)", 8),
                 "bad JSON header"));  // text after the object
  CHECK(contains(file_with_header(std::string(40, '[') + std::string(40, ']'), 8), "nested more than 16 levels deep"));
  CHECK(contains(file_with_header("[1, 2]", 8), "the header is not a JSON object"));
  CHECK(contains(file_with_header(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", 8),
                 "tensor 'w' has no \"dtype\" string"));
  CHECK(contains(file_with_header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8),
                 "tensor 'w' has no \"data_offsets\" pair"));
  CHECK(contains(file_with_header(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8),
                 "tensor 'w': shape entries must be non-negative integers, got -2"));
  CHECK(contains(file_with_header(R"({"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", 8),
                 "shape entries must be non-negative integers, got 2.0"));
  CHECK(contains(file_with_header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,"8"]}})", 8),
                 "data_offsets must be two non-negative integers, got [0,\"8\"]"));
  // An offset past 2^64 (nlohmann reads it as a float) and a huge dim are refused, not wrapped.
  CHECK(contains(file_with_header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551624]}})", 8),
                 "data_offsets must be two non-negative integers"));
  CHECK(contains(file_with_header(R"({"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}})", 8),
                 "dim 4611686018427387904 is larger than the data buffer"));
  CHECK(contains(file_with_header(R"({"__metadata__":{"format":3}})", 0), "metadata 'format' is not a string"));
  CHECK(contains(file_with_header(R"({"__metadata__":[]})", 0), "__metadata__ is not an object"));
  std::string huge(8, '\0');
  huge[7] = 0x10;  // a header length of 2^60
  write_bytes(path, huge + "{}");
  CHECK(contains(message_of([&] { read_safetensors(path); }), "claims a 1152921504606846976-byte header"));
}

// ---- .npy ---------------------------------------------------------------------------------

TEST_CASE("ssl: npy header bytes of a tiny file") {
  TempDir dir;
  const std::string path = dir.file("tiny.npy");
  write_npy(path, from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3}));
  const std::string bytes = read_bytes(path);
  // magic(6) + version(2) + length(2) + a 60-character dict + '\n' = 71 bytes, padded to 128.
  REQUIRE(bytes.size() == 128 + 24);
  CHECK(bytes.substr(0, 8) == std::string("\x93NUMPY\x01\x00", 8));
  CHECK(static_cast<unsigned char>(bytes[8]) == 118);  // 128 - 10, little-endian uint16
  CHECK(bytes[9] == 0);
  const std::string header = bytes.substr(10, 118);
  CHECK(header.rfind("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 0) == 0);
  CHECK(header.back() == '\n');
  CHECK(header.find_first_not_of(' ', 60) == 117);  // spaces, then the newline
  float values[6];
  std::memcpy(values, bytes.data() + 128, 24);
  CHECK(values[0] == 1.0f);
  CHECK(values[5] == 6.0f);

  write_npy(path, from_vector(std::vector<int64_t>{1, 2, 3, 4, 5}, {5}));
  CHECK(contains(read_bytes(path), "{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }"));
  write_npy(path, scalar_tensor(1.5, DType::Float64));
  CHECK(contains(read_bytes(path), "{'descr': '<f8', 'fortran_order': False, 'shape': (), }"));
  CHECK(read_bytes(path).size() == 128 + 8);  // 10 + 55 + 1 = 66 bytes of header, padded to 128
}

TEST_CASE("ssl: npy round trip for every dtype") {
  TempDir dir;
  Generator gen(9);
  const std::string path = dir.file("x.npy");
  for (const Tensor& t : {randn({3, 4}, gen), randn({2, 3, 2}, gen, DType::Float64),
                          from_vector(std::vector<int64_t>{-5, 0, 7}, {3}), zeros({4, 2}, DType::Int32),
                          zeros({0, 128}), scalar_tensor(-2.25), randn({5, 3}, gen).t()}) {
    CAPTURE(t.describe());
    write_npy(path, t);
    CHECK(same_tensor(read_npy(path), t));
    const size_t data_start = read_bytes(path).size() - static_cast<size_t>(t.numel()) * dtype_size(t.dtype());
    CHECK(data_start % 64 == 0);
  }
  write_bytes(path, "not numpy");
  CHECK(contains(message_of([&] { read_npy(path); }), "is not a .npy file"));
}

TEST_CASE("ssl: numpy reads our .npy and safetensors files") {
  if (std::system("/usr/bin/python3 -c 'import numpy' > /dev/null 2>&1") != 0) {
    MESSAGE("skipped: /usr/bin/python3 with numpy is not available");
    return;
  }
  TempDir dir;
  // Values numpy can rebuild on its own side: arange-based.
  write_npy(dir.file("f32.npy"), mul(arange(12), 0.5).reshape({3, 4}));
  write_npy(dir.file("i64.npy"), from_vector(std::vector<int64_t>{-2, -1, 0, 1, 2}, {5}));
  write_npy(dir.file("f64.npy"), div(arange(6, DType::Float64), 3.0).reshape({2, 3}).t());
  write_safetensors(dir.file("w.safetensors"),
                    {{"a", mul(arange(6), 0.25).reshape({2, 3})}, {"b", from_vector(std::vector<int64_t>{0, 1, 2, 3}, {4})}, {"c", zeros({0})}},
                    {{"format", "pt"}});
  const std::string script = R"PY(
import json, struct, sys, numpy as np
d = sys.argv[1]
a = np.load(d + "/f32.npy"); assert a.dtype == np.float32 and a.shape == (3, 4), a
assert np.array_equal(a, (np.arange(12, dtype=np.float32) * 0.5).reshape(3, 4))
b = np.load(d + "/i64.npy"); assert b.dtype == np.int64 and np.array_equal(b, np.arange(5) - 2), b
c = np.load(d + "/f64.npy"); assert c.dtype == np.float64 and c.shape == (3, 2)
assert np.allclose(c, (np.arange(6) / 3.0).reshape(2, 3).T, rtol=0, atol=1e-15), c
raw = open(d + "/w.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
assert (8 + n) % 8 == 0
header = json.loads(raw[8:8 + n])
assert header["__metadata__"] == {"format": "pt"}
data = raw[8 + n:]
def load(name, dt):
    e = header[name]; s, t = e["data_offsets"]
    return np.frombuffer(data[s:t], dtype=dt).reshape(e["shape"])
assert header["a"]["dtype"] == "F32" and np.array_equal(load("a", "<f4"), (np.arange(6, dtype=np.float32) * 0.25).reshape(2, 3))
assert header["b"]["dtype"] == "I64" and np.array_equal(load("b", "<i8"), np.arange(4))
assert load("c", "<f4").shape == (0,)
)PY";
  std::ofstream(dir.file("check.py")) << script;
  const std::string command = "/usr/bin/python3 " + dir.file("check.py") + " " + dir.path.string();
  CHECK(std::system(command.c_str()) == 0);
}
