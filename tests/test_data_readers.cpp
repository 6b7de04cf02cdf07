// Dataset readers: IDX (plain and gzip), CIFAR-10/100 binary batches, image folders.
// Real Fashion-MNIST is loaded once per split; everything else runs on small fixtures the
// tests write into a temporary folder, including one corrupt file per failure class, each
// of which must give an sc::Error whose message names the file and the problem.
#include <doctest/doctest.h>
#include <stb_image_write.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include "ssl/data/cifar.h"
#include "ssl/data/idx.h"
#include "ssl/data/image_folder.h"

#include "tests/test_util.h"

using namespace sc;
using namespace sc::test;
using namespace sc::ssl;
namespace fs = std::filesystem;

namespace {




void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void write_gzip(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile gz = gzopen(path.c_str(), "wb");
  REQUIRE(gz != nullptr);
  REQUIRE(gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  REQUIRE(gzclose(gz) == Z_OK);
}

void put_u32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

// An IDX file: magic, big-endian dims, then the payload as given (which may disagree with
// the dims on purpose).
std::vector<uint8_t> idx_bytes(uint32_t magic, const std::vector<uint32_t>& dims, const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> out;
  put_u32(out, magic);
  for (uint32_t d : dims) put_u32(out, d);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

// A valid 5-image 3x4 set: pixel p of image i is (i * 12 + p) * 3 % 256, labels 0..4.
std::vector<uint8_t> fixture_pixels(int count, int rows, int cols) {
  std::vector<uint8_t> px(static_cast<size_t>(count * rows * cols));
  for (size_t k = 0; k < px.size(); ++k) px[k] = static_cast<uint8_t>(k * 3 % 256);
  return px;
}

struct IdxFixture {
  TempDir dir{"idx"};
  std::string images = dir.file("images-idx3-ubyte");
  std::string labels = dir.file("labels-idx1-ubyte");
  IdxFixture() {
    write_bytes(images, idx_bytes(0x803, {5, 3, 4}, fixture_pixels(5, 3, 4)));
    write_bytes(labels, idx_bytes(0x801, {5}, {0, 1, 2, 3, 9}));
  }
};

}  // namespace

// ---- Fashion-MNIST ---------------------------------------------------------------

TEST_CASE("data: Fashion-MNIST train and test load with the published sizes and labels") {
  // Reference values below were read from the same files with Python's gzip module.
  const Dataset train = load_fashion_mnist("train");
  CHECK(train.size() == 60000);
  CHECK(train.channels() == 1);
  CHECK(train.height() == 28);
  CHECK(train.width() == 28);
  CHECK(train.num_classes() == 10);
  CHECK(train.name() == "fashion-mnist/train");
  CHECK(train.label(0) == 9);  // an ankle boot
  CHECK(train.label(1) == 0);
  CHECK(train.label(3) == 3);
  std::vector<int64_t> per_class(10, 0);
  for (int64_t label : train.labels()) {
    REQUIRE((label >= 0 && label < 10));
    ++per_class[label];
  }
  for (int64_t count : per_class) CHECK(count == 6000);  // Fashion-MNIST is balanced
  auto pixel_sum = [](std::span<const uint8_t> image) { return std::accumulate(image.begin(), image.end(), int64_t{0}); };
  CHECK(pixel_sum(train.image(0)) == 76247);
  CHECK(pixel_sum(train.image(59999)) == 16684);

  const Dataset test = load_fashion_mnist("test");
  CHECK(test.size() == 10000);
  CHECK(test.label(0) == 9);
  CHECK(test.label(1) == 2);
  CHECK(pixel_sum(test.image(0)) == 33456);

  CHECK(contains(message_of([&] { (void)train.image(60000); }), "index 60000 is outside [0, 60000)"));
  CHECK(contains(message_of([] { (void)load_fashion_mnist("val"); }), "split must be \"train\" or \"test\""));
}

// ---- IDX fixtures ------------------------------------------------------------------

TEST_CASE("data: IDX plain and gzip files load the same values; gzip is found by content, not name") {
  IdxFixture fx;
  const Dataset plain = load_idx(fx.images, fx.labels);
  CHECK(plain.size() == 5);
  CHECK(plain.height() == 3);
  CHECK(plain.width() == 4);
  CHECK(plain.name() == fx.images);
  const std::vector<uint8_t> expected = fixture_pixels(5, 3, 4);
  for (int64_t i = 0; i < 5; ++i) {
    const auto img = plain.image(i);
    CHECK(std::equal(img.begin(), img.end(), expected.begin() + i * 12));
  }
  CHECK(plain.label(4) == 9);
  const augment::Image f = plain.float_image(1);
  CHECK(f.at(0, 0, 0) == doctest::Approx(expected[12] / 255.0f));

  // Gzipped under a name without .gz, and a plain file named .gz: both load.
  write_gzip(fx.dir.file("zipped-images"), read_bytes(fx.images));
  fs::copy_file(fx.labels, fx.dir.file("plain-labels.gz"));
  const Dataset mixed = load_idx(fx.dir.file("zipped-images"), fx.dir.file("plain-labels.gz"));
  CHECK(mixed.labels() == plain.labels());
  for (int64_t i = 0; i < 5; ++i) {
    const auto a = plain.image(i), b = mixed.image(i);
    CHECK(std::equal(a.begin(), a.end(), b.begin()));
  }
}

TEST_CASE("data: MNIST-layout folder accepts gzipped and plain names and names what is missing") {
  TempDir dir("mnistdir");
  write_gzip(dir.file("train-images-idx3-ubyte.gz"), idx_bytes(0x803, {5, 3, 4}, fixture_pixels(5, 3, 4)));
  write_bytes(dir.file("train-labels-idx1-ubyte"), idx_bytes(0x801, {5}, {1, 1, 2, 3, 4}));
  const Dataset ds = load_mnist_folder(dir.path.string() + "/", "train");
  CHECK(ds.size() == 5);
  CHECK(ds.name() == dir.path.filename().string() + "/train");
  const std::string msg = message_of([&] { load_mnist_folder(dir.path.string(), "test"); });
  CHECK(contains(msg, dir.path.string()));
  CHECK(contains(msg, "t10k-images-idx3-ubyte.gz"));
}

TEST_CASE("data: every corrupt IDX file gives an error naming the file and the problem") {
  IdxFixture fx;
  const std::vector<uint8_t> pixels = fixture_pixels(5, 3, 4);
  const std::string bad = fx.dir.file("bad-idx");
  auto images_error = [&](const std::vector<uint8_t>& bytes) {
    write_bytes(bad, bytes);
    return message_of([&] { load_idx(bad, fx.labels); });
  };
  auto labels_error = [&](const std::vector<uint8_t>& bytes) {
    write_bytes(bad, bytes);
    return message_of([&] { load_idx(fx.images, bad); });
  };
  auto names = [&](const std::string& msg, const std::string& part) {
    INFO(msg);
    CHECK(contains(msg, bad));
    CHECK(contains(msg, part));
  };

  SUBCASE("bad magic") {
    names(images_error(idx_bytes(0x801, {5, 3, 4}, pixels)), "bad magic number 0x00000801 (expected 0x00000803");
    names(images_error(idx_bytes(0x12345678, {5, 3, 4}, pixels)), "bad magic number 0x12345678");
    names(labels_error(idx_bytes(0x803, {5}, {0, 1, 2, 3, 4})), "bad magic number 0x00000803 (expected 0x00000801");
  }
  SUBCASE("truncated") {
    std::vector<uint8_t> cut = idx_bytes(0x803, {5, 3, 4}, pixels);
    cut.pop_back();
    names(images_error(cut), "is truncated: its header (5 x 3 x 4) declares 60 data bytes, the file holds 59");
    names(images_error({0x00, 0x00}), "shorter than its 4-byte magic number");
    names(images_error({0x00, 0x00, 0x08, 0x03, 0x00, 0x00, 0x00, 0x05, 0x00}), "truncated inside its header");
    names(labels_error(idx_bytes(0x801, {5}, {0, 1, 2})), "declares 5 data bytes, the file holds 3");
  }
  SUBCASE("trailing bytes") {
    std::vector<uint8_t> long_file = idx_bytes(0x803, {5, 3, 4}, pixels);
    long_file.insert(long_file.end(), {7, 7, 7});
    names(images_error(long_file), "has 3 trailing bytes after the 60 data bytes");
  }
  SUBCASE("header dims that overflow or are absurd") {
    names(images_error(idx_bytes(0x803, {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, pixels)),
          "header dimensions 4294967295 x 4294967295 x 4294967295 overflow 64 bits");
    // 1e11 bytes: no overflow, but far more than any real IDX file; refused before reading.
    names(images_error(idx_bytes(0x803, {100000, 1000, 1000}, pixels)), "describe 100000000000 bytes, more than the");
    names(images_error(idx_bytes(0x803, {5, 0, 4}, {})), "has a zero dimension in its header (5 x 0 x 4)");
    // Two 16384 x 16384 images: 512 MiB of data fit in a 4 MB .gz and once took 7.3 GB to
    // train on. Each image is over the 64 Mpixel limit: refused before any data is read.
    names(images_error(idx_bytes(0x803, {2, 16384, 16384}, {})),
          "its items are 16384 x 16384, more than the limit of 67108864 bytes (pixels) per item");
  }
  SUBCASE("image and label counts disagree") {
    write_bytes(bad, idx_bytes(0x801, {4}, {0, 1, 2, 3}));
    const std::string msg = message_of([&] { load_idx(fx.images, bad); });
    CHECK(contains(msg, "count mismatch"));
    CHECK(contains(msg, fx.images + " holds 5 images but " + bad + " holds 4 labels"));
  }
  SUBCASE("label out of range") {
    names(labels_error(idx_bytes(0x801, {5}, {0, 1, 10, 3, 4})), "label 10 of item 2 is outside [0, 10)");
    // The same file is fine with more classes, and the check follows num_classes.
    CHECK(load_idx(fx.images, bad, 11).num_classes() == 11);
    const std::string msg = message_of([&] { load_idx(fx.images, fx.labels, 5); });
    CHECK(contains(msg, fx.labels));
    CHECK(contains(msg, "label 9 of item 4 is outside [0, 5)"));
  }
  SUBCASE("gzip stream cut short or damaged") {
    write_gzip(bad, idx_bytes(0x803, {5, 3, 4}, pixels));
    std::vector<uint8_t> gz = read_bytes(bad);
    REQUIRE(gz.size() > 30);
    std::vector<uint8_t> cut(gz.begin(), gz.begin() + static_cast<std::ptrdiff_t>(gz.size() / 2));
    std::string msg = images_error(cut);
    INFO(msg);
    CHECK(contains(msg, bad));
    CHECK((contains(msg, "truncated") || contains(msg, "corrupt gzip")));
    // Flip the stored CRC-32 (the 8 bytes before the end hold CRC and length): zlib
    // reports the mismatch once it reaches the end of the stream.
    std::vector<uint8_t> damaged = gz;
    damaged[damaged.size() - 8] ^= 0xFF;
    names(images_error(damaged), "corrupt gzip data");
  }
  SUBCASE("missing file") {
    const std::string msg = message_of([&] { load_idx(fx.dir.file("nope"), fx.labels); });
    CHECK(contains(msg, "cannot open " + fx.dir.file("nope")));
  }
}

// ---- CIFAR -------------------------------------------------------------------------

namespace {

// `count` CIFAR records; pixel value = (record * 7 + channel * 3 + offset) % 256, so the
// channel planes are told apart. Labels as given (one or two bytes per record).
std::vector<uint8_t> cifar_records(const std::vector<std::vector<uint8_t>>& labels, int first_record = 0) {
  std::vector<uint8_t> out;
  for (size_t r = 0; r < labels.size(); ++r) {
    out.insert(out.end(), labels[r].begin(), labels[r].end());
    for (int c = 0; c < 3; ++c)
      for (int p = 0; p < 1024; ++p) out.push_back(static_cast<uint8_t>(((first_record + r) * 7 + c * 3 + p) % 256));
  }
  return out;
}

}  // namespace

TEST_CASE("data: CIFAR-10 and CIFAR-100 binary batches load, in file order, as CHW") {
  TempDir dir("cifar");
  write_bytes(dir.file("data_batch_1.bin"), cifar_records({{3}, {9}}, 0));
  for (int i = 2; i <= 5; ++i) write_bytes(dir.file("data_batch_" + std::to_string(i) + ".bin"), cifar_records({{static_cast<uint8_t>(i)}}, i));
  write_bytes(dir.file("test_batch.bin"), cifar_records({{0}, {1}, {2}}));

  const Dataset train = load_cifar10(dir.path.string(), "train");
  CHECK(train.size() == 6);
  CHECK(train.channels() == 3);
  CHECK(train.height() == 32);
  CHECK(train.width() == 32);
  CHECK(train.num_classes() == 10);
  CHECK(train.labels() == std::vector<int64_t>{3, 9, 2, 3, 4, 5});
  // Record 1 of batch 1, green plane (c = 1), pixel (y = 2, x = 5) -> p = 69.
  CHECK(int{train.image(1)[1 * 1024 + 2 * 32 + 5]} == (1 * 7 + 1 * 3 + 69) % 256);
  // Record of batch 4 (numbered 4 in the fixture), blue plane, first pixel.
  CHECK(int{train.image(4)[2 * 1024]} == (4 * 7 + 2 * 3) % 256);
  CHECK(load_cifar10(dir.path.string(), "test").size() == 3);

  write_bytes(dir.file("train.bin"), cifar_records({{19, 99}, {0, 42}}));
  const Dataset fine = load_cifar100(dir.path.string(), "train");
  CHECK(fine.num_classes() == 100);
  CHECK(fine.labels() == std::vector<int64_t>{99, 42});
  const Dataset coarse = load_cifar100(dir.path.string(), "train", /*coarse_labels=*/true);
  CHECK(coarse.num_classes() == 20);
  CHECK(coarse.labels() == std::vector<int64_t>{19, 0});
  CHECK(int{fine.image(1)[0]} == 7 % 256);  // two label bytes skipped, not one
}

TEST_CASE("data: every corrupt CIFAR file gives an error naming the file and the problem") {
  TempDir dir("cifarbad");
  const std::string bad = dir.file("bad.bin");
  auto error_of = [&](const std::vector<uint8_t>& bytes, CifarKind kind) {
    write_bytes(bad, bytes);
    return message_of([&] { load_cifar_files({bad}, kind, "fixture"); });
  };
  auto names = [&](const std::string& msg, const std::string& part) {
    INFO(msg);
    CHECK(contains(msg, bad));
    CHECK(contains(msg, part));
  };
  std::vector<uint8_t> cut = cifar_records({{1}, {2}});
  cut.pop_back();
  names(error_of(cut, CifarKind::Cifar10), "holds 6145 bytes, not a whole number of 3073-byte records");
  // A CIFAR-100 file read as CIFAR-10 is caught by the record size.
  names(error_of(cifar_records({{1, 2}}), CifarKind::Cifar10), "not a whole number of 3073-byte records");
  names(error_of({}, CifarKind::Cifar10), "is empty");
  names(error_of(cifar_records({{1}, {10}}), CifarKind::Cifar10), "label 10 of record 1 is outside [0, 10)");
  names(error_of(cifar_records({{20, 5}}), CifarKind::Cifar100Fine), "coarse label 20 of record 0 is outside [0, 20)");
  names(error_of(cifar_records({{2, 100}}), CifarKind::Cifar100Coarse), "fine label 100 of record 0 is outside [0, 100)");
  // A missing batch among several names the missing file.
  const std::string msg = message_of([&] { load_cifar10(dir.path.string(), "train"); });
  CHECK(contains(msg, "cannot open " + dir.file("data_batch_1.bin")));
}

// ---- image folder ------------------------------------------------------------------

namespace {

// A w x h image with `channels` interleaved (stb's HWC) channels; value depends on all three.
std::vector<uint8_t> hwc_pattern(int w, int h, int channels, int seed) {
  std::vector<uint8_t> px(static_cast<size_t>(w * h * channels));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c) px[(y * w + x) * channels + c] = static_cast<uint8_t>((seed * 31 + y * 17 + x * 5 + c * 80) % 256);
  return px;
}

void write_png(const std::string& path, int w, int h, int channels, int seed) {
  const std::vector<uint8_t> px = hwc_pattern(w, h, channels, seed);
  REQUIRE(stbi_write_png(path.c_str(), w, h, channels, px.data(), w * channels) != 0);
}

}  // namespace

TEST_CASE("data: image folder loads PNG and JPEG, classes in sorted order, pixels CHW") {
  TempDir dir("folder");
  fs::create_directories(dir.path / "b_dog");
  fs::create_directories(dir.path / "a_cat");
  fs::create_directories(dir.path / ".hidden");
  write_png(dir.file("b_dog/2.png"), 6, 4, 3, 1);
  write_png(dir.file("b_dog/1.PNG"), 6, 4, 3, 2);
  write_png(dir.file("a_cat/x.png"), 6, 4, 3, 3);
  write_png(dir.file(".hidden/x.png"), 9, 9, 3, 4);  // skipped: hidden folder, would be a size error
  write_bytes(dir.file("a_cat/notes.txt"), {'h', 'i'});  // skipped: not an image name
  {
    const std::vector<uint8_t> px = hwc_pattern(6, 4, 3, 5);
    REQUIRE(stbi_write_jpg(dir.file("a_cat/y.jpg").c_str(), 6, 4, 3, px.data(), 100) != 0);
  }

  ImageFolderInfo info;
  const Dataset rgb = load_image_folder(dir.path.string(), {.channels = 3}, &info);
  CHECK(rgb.size() == 4);
  CHECK(rgb.num_classes() == 2);
  CHECK(info.class_names == std::vector<std::string>{"a_cat", "b_dog"});
  CHECK(rgb.labels() == std::vector<int64_t>{0, 0, 1, 1});
  REQUIRE(info.files.size() == 4);
  CHECK(fs::path(info.files[0]).filename() == "x.png");
  CHECK(fs::path(info.files[2]).filename() == "1.PNG");  // '1' sorts before '2'
  CHECK(rgb.channels() == 3);
  CHECK(rgb.height() == 4);
  CHECK(rgb.width() == 6);
  // PNG is lossless: every value comes back exactly, moved from HWC to CHW.
  const std::vector<uint8_t> expected = hwc_pattern(6, 4, 3, 2);
  const auto img = rgb.image(2);
  int mismatches = 0;
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 6; ++x) mismatches += img[(c * 4 + y) * 6 + x] != expected[(y * 6 + x) * 3 + c];
  CHECK(mismatches == 0);
  // JPEG is lossy; at quality 100 on this smooth pattern every value stays within 24 levels
  // (a loose bound on purpose: it checks channel order and layout, not the codec).
  const std::vector<uint8_t> jpeg_source = hwc_pattern(6, 4, 3, 5);
  const auto jpg = rgb.image(1);
  int worst = 0;
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < 24; ++p) worst = std::max(worst, std::abs(int{jpg[c * 24 + p]} - int{jpeg_source[p * 3 + c]}));
  CHECK(worst <= 24);

  // One channel: RGB becomes luma (ssl/data/image_decode.cpp); within 1 level of 0.299 R + 0.587 G + 0.114 B.
  const Dataset gray = load_image_folder(dir.path.string(), {.channels = 1});
  CHECK(gray.channels() == 1);
  const auto g = gray.image(2);
  for (int p = 0; p < 24; ++p) {
    const double luma = 0.299 * expected[p * 3] + 0.587 * expected[p * 3 + 1] + 0.114 * expected[p * 3 + 2];
    CHECK(std::abs(g[p] - luma) <= 1.0);
  }
}

TEST_CASE("data: a gray PNG loaded with 3 channels repeats its one channel") {
  TempDir dir("folder_gray");
  fs::create_directories(dir.path / "only");
  write_png(dir.file("only/a.png"), 5, 3, 1, 7);
  const Dataset ds = load_image_folder(dir.path.string(), {.channels = 3});
  const auto img = ds.image(0);
  const std::vector<uint8_t> expected = hwc_pattern(5, 3, 1, 7);
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < 15; ++p) CHECK(img[c * 15 + p] == expected[p]);
}

TEST_CASE("data: image folder problems give an error naming the file or folder") {
  TempDir dir("folder_bad");
  fs::create_directories(dir.path / "a");
  fs::create_directories(dir.path / "b");
  write_png(dir.file("a/1.png"), 6, 4, 3, 1);
  write_png(dir.file("b/1.png"), 6, 4, 3, 2);
  REQUIRE(load_image_folder(dir.path.string()).size() == 2);

  SUBCASE("mixed sizes") {
    write_png(dir.file("b/2.png"), 5, 4, 3, 3);
    const std::string msg = message_of([&] { load_image_folder(dir.path.string()); });
    INFO(msg);
    CHECK(contains(msg, dir.file("b/2.png") + " is 5x4 (width x height) but " + dir.file("a/1.png") + " is 6x4"));
  }
  SUBCASE("corrupt image") {
    write_bytes(dir.file("b/2.png"), {0x89, 'P', 'N', 'G', 1, 2, 3, 4, 5, 6});
    const std::string msg = message_of([&] { load_image_folder(dir.path.string()); });
    INFO(msg);
    CHECK(contains(msg, "cannot decode image file " + dir.file("b/2.png")));
  }
  SUBCASE("truncated PNG") {
    std::vector<uint8_t> png = read_bytes(dir.file("b/1.png"));
    png.resize(png.size() / 2);
    write_bytes(dir.file("b/1.png"), png);
    const std::string msg = message_of([&] { load_image_folder(dir.path.string()); });
    INFO(msg);
    CHECK(contains(msg, "cannot decode image file " + dir.file("b/1.png")));
  }
  SUBCASE("empty image file") {
    write_bytes(dir.file("a/0.jpg"), {});
    CHECK(contains(message_of([&] { load_image_folder(dir.path.string()); }), "image file " + dir.file("a/0.jpg") + " is empty"));
  }
  SUBCASE("class folder without images") {
    fs::create_directories(dir.path / "c");
    CHECK(contains(message_of([&] { load_image_folder(dir.path.string()); }), "class folder " + dir.file("c") + " holds no"));
  }
  SUBCASE("no class folders, missing root, bad channel count") {
    TempDir empty("folder_empty");
    CHECK(contains(message_of([&] { load_image_folder(empty.path.string()); }), "holds no .png/.jpg/.jpeg images and no class subfolders"));
    CHECK(contains(message_of([&] { load_image_folder(dir.file("missing")); }), dir.file("missing") + " does not exist"));
    CHECK(contains(message_of([&] { load_image_folder(dir.path.string(), {.channels = 2}); }),
                   "channels must be 0 (as the images), 1 or 3, got 2"));
  }
}

TEST_CASE("data: Dataset checks its own consistency") {
  CHECK(contains(message_of([] { Dataset("d", 1, 2, 2, std::vector<uint8_t>(7), {0, 1}, 2); }),
                 "dataset d: 2 labels need 8 pixel bytes, got 7"));
  CHECK(contains(message_of([] { Dataset("d", 1, 2, 2, std::vector<uint8_t>(8), {0, 2}, 2); }),
                 "dataset d: label 2 of image 1 is outside [0, 2)"));
  CHECK(contains(message_of([] { Dataset("d", 0, 2, 2, {}, {}, 2); }), "image size must be positive"));
  CHECK(contains(message_of([] { Dataset("d", 1, 16384, 16384, {}, {}, 2); }),
                 "dataset d: images of 16384x16384 (height x width) are more than the limit of 67108864 pixels"));
}
