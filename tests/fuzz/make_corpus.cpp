// Writes the seed corpus of every fuzz target into tests/fuzz/corpus/<target>/: a few small
// valid files per format (and a few near misses), so the fuzzers start from inputs that get
// past the magic numbers. Run once by hand; the output is committed:
//   build-fuzz/tests/fuzz/fuzz_make_corpus tests/fuzz/corpus
#include <stb_image_write.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/ops.h"
#include "ssl/checkpoint.h"
#include "ssl/config.h"
#include "ssl/export.h"

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

namespace {

fs::path root;

void put(const std::string& target, const std::string& name, const Bytes& bytes) {
  fs::create_directories(root / target);
  std::FILE* f = std::fopen((root / target / name).c_str(), "wb");
  if (!f || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) throw std::runtime_error("cannot write " + name);
  std::fclose(f);
}

Bytes read(const fs::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  Bytes out;
  for (int c; (c = std::fgetc(f)) != EOF;) out.push_back(static_cast<uint8_t>(c));
  std::fclose(f);
  return out;
}

void append_be32(Bytes& b, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<uint8_t>(v >> shift));
}

Bytes gzip(const Bytes& in) {
  z_stream z{};
  deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  Bytes out(deflateBound(&z, in.size()));
  z.next_in = const_cast<uint8_t*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// IDX: magic 0x0000080<ndims>, big-endian dims, bytes.
Bytes idx(const std::vector<uint32_t>& dims) {
  Bytes b = {0, 0, 8, static_cast<uint8_t>(dims.size())};
  size_t n = 1;
  for (uint32_t d : dims) append_be32(b, d), n *= d;
  for (size_t i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(dims.size() == 1 ? i % 10 : i * 37));
  return b;
}

// A PNG built chunk by chunk, for the variants stb_image_write cannot make (16-bit, palette,
// interlaced). `raw` is the filtered scanline data (a filter byte before each row).
Bytes png(uint32_t w, uint32_t h, uint8_t depth, uint8_t color_type, uint8_t interlace, const Bytes& raw,
          const std::vector<std::pair<std::string, Bytes>>& extra = {}) {
  Bytes out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  auto chunk = [&](const std::string& type, const Bytes& data) {
    append_be32(out, static_cast<uint32_t>(data.size()));
    Bytes body(type.begin(), type.end());
    body.insert(body.end(), data.begin(), data.end());
    out.insert(out.end(), body.begin(), body.end());
    append_be32(out, static_cast<uint32_t>(crc32(0, body.data(), static_cast<uInt>(body.size()))));
  };
  Bytes ihdr;
  append_be32(ihdr, w), append_be32(ihdr, h);
  ihdr.insert(ihdr.end(), {depth, color_type, 0, 0, interlace});
  chunk("IHDR", ihdr);
  for (const auto& [type, data] : extra) chunk(type, data);
  uLongf size = compressBound(raw.size());
  Bytes z(size);
  compress(z.data(), &size, raw.data(), raw.size());
  z.resize(size);
  chunk("IDAT", z);
  chunk("IEND", {});
  return out;
}

void stb_append(void* context, void* data, int size) {
  auto* out = static_cast<Bytes*>(context);
  out->insert(out->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
}

Bytes pixels(int w, int h, int channels) {
  Bytes p(static_cast<size_t>(w) * h * channels);
  for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<uint8_t>(i * 29 + 7);
  return p;
}

Bytes via_file(const std::function<void(const std::string&)>& write) {
  const fs::path tmp = fs::temp_directory_path() / "sc-make-corpus.tmp";
  write(tmp.string());
  Bytes b = read(tmp);
  fs::remove(tmp);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  root = argv[1];
  using namespace sc;

  // ---- IDX: plain and gzip for fuzz_idx; fuzz_idx_gz compresses its inputs itself.
  const Bytes images = idx({2, 4, 4}), labels = idx({2}), one_pixel = idx({1, 1, 1});
  for (const char* target : {"idx", "idx_gz"}) {
    put(target, "images-2x4x4", images);
    put(target, "labels-2", labels);
    put(target, "images-1x1x1", one_pixel);
  }
  put("idx", "images-2x4x4.gz", gzip(images));
  put("idx", "labels-2.gz", gzip(labels));

  // ---- CIFAR: one record of each layout.
  Bytes cifar10 = {3}, cifar100 = {7, 42};
  const Bytes cifar_pixels = pixels(32, 32, 3);
  cifar10.insert(cifar10.end(), cifar_pixels.begin(), cifar_pixels.end());
  cifar100.insert(cifar100.end(), cifar_pixels.begin(), cifar_pixels.end());
  put("cifar", "cifar10-1-record", cifar10);
  put("cifar", "cifar100-1-record", cifar100);

  // ---- images: PNG and JPEG from stb_image_write, PNG variants built by hand.
  for (int channels : {1, 2, 3, 4}) {
    Bytes out;
    stbi_write_png_to_func(stb_append, &out, 5, 3, channels, pixels(5, 3, channels).data(), 5 * channels);
    put("image", "png-5x3-c" + std::to_string(channels) + ".png", out);
  }
  for (int channels : {1, 3}) {
    Bytes out;
    stbi_write_jpg_to_func(stb_append, &out, 9, 7, channels, pixels(9, 7, channels).data(), 90);
    put("image", "jpeg-9x7-c" + std::to_string(channels) + ".jpg", out);
  }
  put("image", "png-gray16-2x2.png", png(2, 2, 16, 0, 0, {0, 1, 2, 3, 4, 0, 5, 6, 7, 8}));
  put("image", "png-palette-2x2.png",
      png(2, 2, 8, 3, 0, {0, 0, 1, 0, 2, 0}, {{"PLTE", {255, 0, 0, 0, 255, 0, 0, 0, 255}}, {"tRNS", {255, 128}}}));
  // Adam7 on a 2x2 image: pass 1 holds (0,0), pass 6 holds (1,0), pass 7 holds row 1.
  put("image", "png-interlaced-2x2.png", png(2, 2, 8, 0, 1, {0, 10, 0, 20, 0, 30, 40}));

  // ---- checkpoint: a tiny model, optimizer state and one RNG state, with a real config.
  ssl::Checkpoint ckpt;
  ckpt.config = ssl::config_to_json(ssl::TrainConfig{});
  ckpt.step = 7, ckpt.epoch = 1;
  ckpt.model = {{"encoder.weight", arange(6).reshape({2, 3})}, {"encoder.bias", arange(2, DType::Float64)}};
  ckpt.optimizer = {{"step", scalar_tensor(7.0, DType::Int64)}, {"exp_avg.0", zeros({2, 3})}};
  Generator gen(5);
  ckpt.rng = {{"loader", gen.state()}};
  put("checkpoint", "tiny.ckpt", via_file([&](const std::string& p) { ssl::save_checkpoint(p, ckpt); }));
  ckpt.config = "{}";
  ckpt.model.resize(1);
  ckpt.optimizer.clear();
  put("checkpoint", "one-tensor.ckpt", via_file([&](const std::string& p) { ssl::save_checkpoint(p, ckpt); }));

  // ---- safetensors and .npy: every dtype once.
  const ssl::NamedTensors tensors = {{"conv.weight", arange(6).reshape({1, 2, 3})},
                                     {"bn.num_batches_tracked", scalar_tensor(3.0, DType::Int64)},
                                     {"bn.running_mean", arange(2, DType::Float64)},
                                     {"idx", arange(3, DType::Int32)}};
  put("safetensors", "four-dtypes.safetensors",
      via_file([&](const std::string& p) { ssl::write_safetensors(p, tensors, {{"format", "pt"}}); }));
  put("safetensors", "empty.safetensors", via_file([&](const std::string& p) { ssl::write_safetensors(p, {}); }));
  for (const auto& [name, t] : tensors)
    put("npy", name + ".npy", via_file([&, &t = t](const std::string& p) { ssl::write_npy(p, t); }));

  // ---- config JSON: the defaults, a legacy config (temperature at the top), a partial one.
  const std::string defaults = ssl::config_to_json(ssl::TrainConfig{});
  put("config", "defaults.json", Bytes(defaults.begin(), defaults.end()));
  const std::string legacy = R"({"temperature": 0.5, "epochs": 3, "batch_size": 256, "lr": 0.001, "encoder": "resnet18"})";
  put("config", "legacy.json", Bytes(legacy.begin(), legacy.end()));
  const std::string partial = R"({"method": "simclr", "method_params": {"temperature": 0.1}, "seed": 18446744073709551615})";
  put("config", "partial.json", Bytes(partial.begin(), partial.end()));
  std::printf("corpus written to %s\n", root.c_str());
  return 0;
}
