// Image folders as people have them (issue 13, part 1): channels taken from the images,
// --image-size and its resize policy, unlabeled folders, --val-fraction, --eval-data, and
// the errors for bad folders. Every image is written here, by stb_image_write or byte by byte,
// into a temporary folder; the training runs are a few steps of a width-4 ConvNet.
#include <doctest/doctest.h>
#include <stb_image_write.h>
#include <sys/wait.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/ops.h"
#include "ssl/data/image_folder.h"
#include "ssl/data/image_resize.h"
#include "ssl/data/load.h"
#include "ssl/report.h"
#include "ssl/run_dir.h"
#include "ssl/trainer.h"

#include "tests/test_util.h"

using namespace sc;
using namespace sc::test;
using namespace sc::ssl;
namespace fs = std::filesystem;

namespace {

// A w x h image with `channels` interleaved channels whose values depend on x, y, c and seed.
std::vector<uint8_t> pattern(int w, int h, int channels, int seed) {
  std::vector<uint8_t> px(static_cast<size_t>(w * h * channels));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c)
        px[(y * w + x) * channels + c] = static_cast<uint8_t>((seed * 37 + y * 11 + x * 7 + c * 60) % 256);
  return px;
}

void write_png(const std::string& path, int w, int h, int channels, int seed) {
  fs::create_directories(fs::path(path).parent_path());
  const std::vector<uint8_t> px = pattern(w, h, channels, seed);
  REQUIRE(stbi_write_png(path.c_str(), w, h, channels, px.data(), w * channels) != 0);
}

void write_png_pixels(const std::string& path, int w, int h, int channels, const std::vector<uint8_t>& hwc) {
  fs::create_directories(fs::path(path).parent_path());
  REQUIRE(stbi_write_png(path.c_str(), w, h, channels, hwc.data(), w * channels) != 0);
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// A PNG whose IHDR declares width x height (8-bit gray) followed by a few bytes of IDAT:
// enough for the decoder to read the size, nothing to decode.
std::vector<uint8_t> png_declaring(uint32_t width, uint32_t height) {
  std::vector<uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  auto be32 = [](std::vector<uint8_t>& b, uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<uint8_t>(v >> shift));
  };
  auto chunk = [&](const char* type, const std::vector<uint8_t>& data) {
    be32(out, static_cast<uint32_t>(data.size()));
    std::vector<uint8_t> body(type, type + 4);
    body.insert(body.end(), data.begin(), data.end());
    out.insert(out.end(), body.begin(), body.end());
    be32(out, static_cast<uint32_t>(crc32(0, body.data(), static_cast<uInt>(body.size()))));
  };
  std::vector<uint8_t> ihdr;
  be32(ihdr, width), be32(ihdr, height);
  ihdr.insert(ihdr.end(), {8, 0, 0, 0, 0});
  chunk("IHDR", ihdr);
  chunk("IDAT", {1, 2, 3});
  return out;
}

// Two classes of gray w x h PNGs, `per_class` each: class a is dark with a bright column,
// class b bright with a dark row, so that the pixels differ between classes.
void write_gray_classes(const fs::path& root, int per_class, int w, int h) {
  for (int i = 0; i < per_class; ++i) {
    std::vector<uint8_t> a(static_cast<size_t>(w * h), 30), b(static_cast<size_t>(w * h), 220);
    for (int y = 0; y < h; ++y) a[y * w + (i % w)] = 250;
    for (int x = 0; x < w; ++x) b[(i % h) * w + x] = 10;
    write_png_pixels((root / "a" / ("img" + std::to_string(i) + ".png")).string(), w, h, 1, a);
    write_png_pixels((root / "b" / ("img" + std::to_string(i) + ".png")).string(), w, h, 1, b);
  }
}

TrainConfig tiny_config(const std::string& data, const std::string& out) {
  TrainConfig c;
  c.data = data;
  c.out_dir = out;
  c.width = 4;
  c.projection_dim = 8;
  c.batch_size = 8;
  c.epochs = 1;
  c.workers = 1;
  c.threads = 1;
  c.knn_k = 3;
  c.seed = 1;
  return c;
}

// The view shape of every batch a run trains on.
struct ViewShapes {
  std::set<Shape> seen;
  TrainHooks hooks() {
    TrainHooks h;
    h.quiet = true;
    h.on_batch = [this](int64_t, const Tensor& views) { seen.insert(views.shape()); };
    return h;
  }
};

}  // namespace

// ---- channels --------------------------------------------------------------------------

TEST_CASE("images: a gray folder loads as 1 channel, a colour one as 3; --channels converts either") {
  TempDir dir("img_channels");
  write_png(dir.file("gray/a/1.png"), 6, 5, 1, 1);
  write_png(dir.file("gray/b/1.png"), 6, 5, 1, 2);
  write_png(dir.file("rgb/a/1.png"), 6, 5, 3, 3);
  write_png(dir.file("rgb/b/1.png"), 6, 5, 4, 4);  // RGBA is a colour file: 3 channels, alpha dropped
  const Dataset gray = load_image_folder(dir.file("gray"));
  CHECK(gray.channels() == 1);
  CHECK(gray.height() == 5);
  CHECK(gray.width() == 6);
  const std::vector<uint8_t> expected = pattern(6, 5, 1, 2);
  CHECK(std::equal(expected.begin(), expected.end(), gray.image(1).begin()));
  const Dataset rgb = load_image_folder(dir.file("rgb"));
  CHECK(rgb.channels() == 3);
  CHECK(load_image_folder(dir.file("gray"), {.channels = 3}).channels() == 3);
  CHECK(load_image_folder(dir.file("rgb"), {.channels = 1}).channels() == 1);

  // Gray and colour in one folder: which needs --channels, naming one file of each kind.
  write_png(dir.file("gray/b/2.png"), 6, 5, 3, 5);
  const std::string msg = message_of([&] { load_image_folder(dir.file("gray")); });
  INFO(msg);
  CHECK(contains(msg, dir.file("gray/b/2.png") + " is colour (3 channels) but " + dir.file("gray/a/1.png") +
                          " is gray (1 channel); give --channels 1 or --channels 3"));
  CHECK(load_image_folder(dir.file("gray"), {.channels = 1}).size() == 3);
}

// ---- size ------------------------------------------------------------------------------

TEST_CASE("images: resize policy: shorter side to N, the middle kept, bilinear, antialiased when shrinking") {
  SUBCASE("an N x N image is unchanged") {
    const std::vector<uint8_t> img = pattern(5, 5, 2, 1);
    CHECK(resize_shorter_side_center_crop(img, 2, 5, 5, 5) == img);
  }
  SUBCASE("a wide image keeps its middle: the side quarters do not reach the output") {
    // 8 wide, 4 high: columns 0-1 are 10, 2-5 are 200, 6-7 are 50. Scaled to 4 high, the
    // middle 4 columns are the 200s alone.
    std::vector<uint8_t> img(32);
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 8; ++x) img[y * 8 + x] = x < 2 ? 10 : x < 6 ? 200 : 50;
    const std::vector<uint8_t> out = resize_shorter_side_center_crop(img, 1, 4, 8, 4);
    CHECK(out == std::vector<uint8_t>(16, 200));
    // The same for a tall image (rows instead of columns).
    std::vector<uint8_t> tall(32);
    for (int y = 0; y < 8; ++y)
      for (int x = 0; x < 4; ++x) tall[y * 4 + x] = y < 2 ? 10 : y < 6 ? 200 : 50;
    CHECK(resize_shorter_side_center_crop(tall, 1, 8, 4, 4) == std::vector<uint8_t>(16, 200));
  }
  SUBCASE("enlarging is bilinear with half-pixel centres (torch's align_corners=False)") {
    // [0, 200] to 4 pixels: sampled at 0.25, 0.75, 1.25, 1.75 -> 0, 50, 150, 200.
    const std::vector<uint8_t> out = resize_shorter_side_center_crop(std::vector<uint8_t>{0, 200, 0, 200}, 1, 2, 2, 4);
    for (int y = 0; y < 4; ++y) {
      CAPTURE(y);
      CHECK(out[y * 4 + 0] == 0);
      CHECK(out[y * 4 + 1] == 50);
      CHECK(out[y * 4 + 2] == 150);
      CHECK(out[y * 4 + 3] == 200);
    }
  }
  SUBCASE("shrinking averages (antialiasing) rather than skipping pixels") {
    // Every 4th column is 255, the rest 0: a mean of 63.75. 64 -> 8 pixels. Plain bilinear
    // would sample between columns 8o+3 and 8o+4 and give 127 or 128 everywhere; the
    // stretched triangle averages about 16 columns and stays near the mean.
    std::vector<uint8_t> img(64 * 64);
    for (int y = 0; y < 64; ++y)
      for (int x = 0; x < 64; ++x) img[y * 64 + x] = x % 4 == 0 ? 255 : 0;
    const std::vector<uint8_t> out = resize_shorter_side_center_crop(img, 1, 64, 64, 8);
    for (int x = 1; x < 7; ++x) {  // away from the borders, where the triangle is cut off
      CAPTURE(x);
      CHECK(std::abs(out[3 * 8 + x] - 63.75) <= 2.0);
    }
  }
  SUBCASE("a flat image stays flat, borders included") {
    const std::vector<uint8_t> flat(3 * 30 * 17, 77);
    CHECK(resize_shorter_side_center_crop(flat, 3, 30, 17, 9) == std::vector<uint8_t>(3 * 81, 77));
  }
}

TEST_CASE("images: mixed sizes need --image-size; with it every image is N x N") {
  TempDir dir("img_sizes");
  write_png(dir.file("a/1.png"), 40, 24, 3, 1);
  write_png(dir.file("a/2.png"), 24, 30, 3, 2);
  write_png(dir.file("b/1.png"), 32, 32, 3, 3);
  const std::string msg = message_of([&] { load_image_folder(dir.path.string()); });
  INFO(msg);
  CHECK(contains(msg, dir.file("a/2.png") + " is 24x30 (width x height) but " + dir.file("a/1.png") + " is 40x24"));
  CHECK(contains(msg, "give --image-size N"));
  const Dataset ds = load_image_folder(dir.path.string(), {.channels = 0, .image_size = 16});
  CHECK(ds.size() == 3);
  CHECK(ds.channels() == 3);
  CHECK(ds.height() == 16);
  CHECK(ds.width() == 16);
  // The third image, 32x32, is the resize of its own pixels (same function, same bytes).
  std::vector<uint8_t> chw(3 * 32 * 32);
  const std::vector<uint8_t> hwc = pattern(32, 32, 3, 3);
  for (int p = 0; p < 32 * 32; ++p)
    for (int c = 0; c < 3; ++c) chw[c * 1024 + p] = hwc[p * 3 + c];
  const std::vector<uint8_t> expected = resize_shorter_side_center_crop(chw, 3, 32, 32, 16);
  CHECK(std::equal(expected.begin(), expected.end(), ds.image(2).begin()));
}

TEST_CASE("images: --channels and --image-size apply to the MNIST layout too") {
  TempDir dir("img_mnist");
  auto be32 = [](std::vector<uint8_t>& b, uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<uint8_t>(v >> shift));
  };
  for (const char* split : {"train", "t10k"}) {
    std::vector<uint8_t> images, labels;
    be32(images, 0x803), be32(images, 2), be32(images, 28), be32(images, 28);
    for (int i = 0; i < 2 * 28 * 28; ++i) images.push_back(static_cast<uint8_t>(i % 251));
    be32(labels, 0x801), be32(labels, 2);
    labels.insert(labels.end(), {0, 1});
    write_bytes(dir.file(std::string(split) + "-images-idx3-ubyte"), images);
    write_bytes(dir.file(std::string(split) + "-labels-idx1-ubyte"), labels);
  }
  DataOptions options;
  options.channels = 3;
  options.image_size = 32;
  const TrainData data = load_train_data(dir.path.string(), options);
  CHECK(data.train.channels() == 3);
  CHECK(data.train.height() == 32);
  REQUIRE(data.test.has_value());
  CHECK(data.test->width() == 32);
  CHECK(data.train.labels() == std::vector<int64_t>{0, 1});
}

// ---- layouts ---------------------------------------------------------------------------

TEST_CASE("images: a folder of images without class subfolders is unlabeled") {
  TempDir dir("img_unlabeled");
  write_png(dir.file("z.png"), 6, 6, 1, 1);
  write_png(dir.file("a.png"), 6, 6, 1, 2);
  write_bytes(dir.file("README.txt"), {'h', 'i'});  // not an image name: skipped
  ImageFolderInfo info;
  const Dataset ds = load_image_folder(dir.path.string(), {}, &info);
  CHECK(ds.size() == 2);
  CHECK_FALSE(ds.labeled());
  CHECK(info.class_names.empty());
  CHECK(fs::path(info.files[0]).filename() == "a.png");
  CHECK_FALSE(dataset_head(ds, 1).labeled());
  // Labeled stays labeled.
  TempDir labeled("img_labeled");
  write_png(labeled.file("c/1.png"), 6, 6, 1, 3);
  CHECK(load_image_folder(labeled.path.string()).labeled());
  // Images beside subfolders: which one is meant is unclear, so it is refused.
  fs::create_directories(dir.path / "cats");
  write_png(dir.file("cats/1.png"), 6, 6, 1, 4);
  const std::string msg = message_of([&] { load_image_folder(dir.path.string()); });
  INFO(msg);
  CHECK(contains(msg, "holds both images (a.png) and subfolders (cats)"));
}

TEST_CASE("images: --val-fraction holds out that fraction of each class, the same images every time") {
  TempDir dir("img_val");
  write_gray_classes(dir.path, 10, 12, 12);  // 10 per class, all different
  DataOptions options;
  options.val_fraction = 0.3;
  const TrainData a = load_train_data(dir.path.string(), options);
  REQUIRE(a.test.has_value());
  CHECK(a.train.size() == 14);
  CHECK(a.test->size() == 6);
  CHECK(std::count(a.test->labels().begin(), a.test->labels().end(), 0) == 3);
  CHECK(std::count(a.test->labels().begin(), a.test->labels().end(), 1) == 3);
  // The same split again, and no image in both parts.
  const TrainData b = load_train_data(dir.path.string(), options);
  for (int64_t i = 0; i < a.test->size(); ++i) {
    CAPTURE(i);
    CHECK(std::equal(a.test->image(i).begin(), a.test->image(i).end(), b.test->image(i).begin()));
    for (int64_t j = 0; j < a.train.size(); ++j)
      CHECK_FALSE((a.train.label(j) == a.test->label(i) &&
                   std::equal(a.train.image(j).begin(), a.train.image(j).end(), a.test->image(i).begin())));
  }
  options.val_fraction = 0.01;
  CHECK(contains(message_of([&] { load_train_data(dir.path.string(), options); }), "--val-fraction 0.01 takes no test image"));

  TempDir split("img_val_split");
  write_gray_classes(split.path / "train", 2, 6, 6);
  write_gray_classes(split.path / "test", 2, 6, 6);
  options.val_fraction = 0.5;
  CHECK(contains(message_of([&] { load_train_data(split.path.string(), options); }), "has its own test split"));
  // train/ and test/ must agree on channels and size, or say which flag makes them agree.
  fs::remove_all(split.path / "test");
  write_png(split.file("test/a/1.png"), 6, 6, 3, 9);
  options.val_fraction = 0;
  const std::string mixed = message_of([&] { load_train_data(split.path.string(), options); });
  INFO(mixed);
  CHECK(contains(mixed, "have 1 channel(s) but those of " + split.file("test") + " have 3; give --channels 1 or --channels 3"));
  fs::remove_all(split.path / "test");
  write_gray_classes(split.path / "test", 2, 8, 8);
  CHECK(contains(message_of([&] { load_train_data(split.path.string(), options); }),
                 "are 6x6 (width x height) but those of " + split.file("test") + " are 8x8; give --image-size N"));
  options.image_size = 8;
  CHECK(load_train_data(split.path.string(), options).train.height() == 8);
  options.image_size = 0;
  options.val_fraction = 0.5;

  TempDir unlabeled("img_val_unlabeled");
  write_png(unlabeled.file("1.png"), 6, 6, 1, 1);
  write_png(unlabeled.file("2.png"), 6, 6, 1, 2);
  CHECK(contains(message_of([&] { load_train_data(unlabeled.path.string(), options); }), "has no labels"));
}

// ---- bad input -------------------------------------------------------------------------

TEST_CASE("images: bad folders and files are refused with the file named") {
  TempDir dir("img_bad");
  write_png(dir.file("a/1.png"), 6, 4, 3, 1);
  write_png(dir.file("b/1.png"), 6, 4, 3, 2);
  REQUIRE(load_image_folder(dir.path.string()).size() == 2);
  auto error = [&] { return message_of([&] { load_image_folder(dir.path.string()); }); };

  SUBCASE("BMP") {
    write_bytes(dir.file("b/2.BMP"), {'B', 'M', 0, 0});
    const std::string msg = error();
    INFO(msg);
    CHECK(contains(msg, dir.file("b/2.BMP") + " is a bmp file; only PNG and JPEG images are read"));
  }
  SUBCASE("corrupt PNG and JPEG") {
    write_bytes(dir.file("b/2.png"), {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R', 1});
    CHECK(contains(error(), "cannot decode image file " + dir.file("b/2.png") + " as PNG"));
    fs::remove(dir.file("b/2.png"));
    write_bytes(dir.file("b/2.jpg"), {0xff, 0xd8, 0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0, 1});
    CHECK(contains(error(), "cannot decode image file " + dir.file("b/2.jpg") + " as JPEG"));
  }
  SUBCASE("not an image at all, under an image name") {
    write_bytes(dir.file("b/2.jpeg"), {'h', 'e', 'l', 'l', 'o'});
    CHECK(contains(error(), dir.file("b/2.jpeg") + ": not a PNG or JPEG file"));
  }
  SUBCASE("truncated") {
    std::vector<uint8_t> png = read_bytes(dir.file("b/1.png"));
    png.resize(png.size() - 20);
    write_bytes(dir.file("b/1.png"), png);
    CHECK(contains(error(), "cannot decode image file " + dir.file("b/1.png") + " as PNG"));
  }
  SUBCASE("oversized: refused from its header, before decoding, with or without --image-size") {
    write_bytes(dir.file("b/2.png"), png_declaring(20000, 20000));
    CHECK(contains(error(), dir.file("b/2.png") + " declares 20000x20000 pixels (width x height), more than the limit"));
    CHECK(contains(message_of([&] { load_image_folder(dir.path.string(), {.channels = 0, .image_size = 8}); }),
                   dir.file("b/2.png") + " declares 20000x20000"));
  }
  SUBCASE("a class folder without images, an empty folder") {
    fs::create_directories(dir.path / "c" / "nested");
    CHECK(contains(error(), "class folder " + dir.file("c") + " holds no .png/.jpg/.jpeg image (its subfolders are not read"));
    TempDir empty("img_empty");
    CHECK(contains(message_of([&] { load_image_folder(empty.path.string()); }),
                   "image folder " + empty.path.string() + " holds no .png/.jpg/.jpeg images and no class subfolders"));
  }
  SUBCASE("flags out of range") {
    CHECK(contains(message_of([&] { load_image_folder(dir.path.string(), {.channels = 2}); }), "channels must be 0"));
    CHECK(contains(message_of([&] { load_image_folder(dir.path.string(), {.channels = 0, .image_size = 9000}); }),
                   "image size must be in [0, 8192]"));
  }
}

TEST_CASE("images: the new flags are checked up front, stored in the config, and fixed on resume") {
  TrainConfig c;
  c.channels = 2;
  CHECK(contains(message_of([&] { validate_config(c); }), "--channels must be 0 (as the images), 1 (gray) or 3 (RGB), got 2"));
  c.channels = 0;
  c.image_size = 9000;
  CHECK(contains(message_of([&] { validate_config(c); }), "--image-size must be in [0, 8192] (0: the images' own size), got 9000"));
  c.image_size = 3;
  CHECK(contains(message_of([&] { validate_config(c); }), "--image-size 3 is too small for the convnet encoder"));
  c.encoder = "resnet18";
  validate_config(c);  // ResNet-18 takes any size
  c.encoder = "convnet";
  c.image_size = 32;
  c.val_fraction = 0.95;
  CHECK(contains(message_of([&] { validate_config(c); }), "--val-fraction must be in [0, 0.9] (0: no split), got 0.95"));
  c.val_fraction = 0.2;
  c.channels = 3;
  c.eval_data = "/some/labeled";
  validate_config(c);
  const TrainConfig back = config_from_json(config_to_json(c));
  CHECK(back.channels == 3);
  CHECK(back.image_size == 32);
  CHECK(back.val_fraction == 0.2);
  CHECK(back.eval_data == "/some/labeled");
  // A config from before these flags reads as "as the images".
  const TrainConfig old = config_from_json(R"({"data": "x", "epochs": 2})");
  CHECK(old.channels == 0);
  CHECK(old.image_size == 0);
  CHECK(old.val_fraction == 0.0);

  TrainConfig changed = c;
  changed.image_size = 64;
  changed.channels = 1;
  changed.val_fraction = 0.1;
  changed.eval_data = "/other";  // only the monitor and eval read it: may change
  const std::string msg = message_of([&] { check_resume_compatible(c, changed); });
  INFO(msg);
  CHECK(contains(msg, "--image-size (the run has 32, asked for 64)"));
  CHECK(contains(msg, "--channels (the run has 3, asked for 1)"));
  CHECK(contains(msg, "--val-fraction (the run has 0.2, asked for 0.1)"));
  CHECK_FALSE(contains(msg, "--eval-data"));
}

TEST_CASE("images: the augmentation preview spreads over the dataset, not its first images") {
  CHECK(preview_indices(100, 4) == std::vector<int64_t>{0, 25, 50, 75});
  CHECK(preview_indices(3, 8) == std::vector<int64_t>{0, 1, 2});
  CHECK(preview_indices(10, 1) == std::vector<int64_t>{0});
}

// ---- training on folders ---------------------------------------------------------------

TEST_CASE("images: a gray PNG folder trains as 1 channel at its own size; eval and embed read it the same way") {
  TempDir dir("img_train_gray");
  write_gray_classes(dir.path / "train", 8, 12, 10);  // 12 wide, 10 high: views 10x10
  write_gray_classes(dir.path / "test", 4, 12, 10);
  TrainConfig config = tiny_config(dir.path.string(), dir.file("run"));
  ViewShapes views;
  const TrainResult r = train(config, StartMode::New, views.hooks());
  CHECK(r.steps == 2);
  CHECK(views.seen == std::set<Shape>{Shape{16, 1, 10, 10}});
  REQUIRE(r.epochs.size() == 1);
  CHECK(r.epochs[0].knn_accuracy >= 0);  // the monitor ran on the test split
  const auto model = load_trained_model(dir.file("run"));
  CHECK(model->options().encoder.in_channels == 1);

  EvalConfig ec;
  ec.run = dir.file("run");
  ec.probe_epochs = 2;
  ec.knn_k = 3;
  ec.baselines = true;
  const EvalReport report = evaluate_run(ec);
  REQUIRE(report.rows.size() == 3);
  CHECK(report.rows[0].feature_dim == 1 * 10 * 12);  // raw pixels: the images at their own size
  CHECK(report.test_size == 8);
  const Tensor f = embed_to_npy(dir.file("run"), "", "test", dir.file("f.npy"));
  CHECK(f.size(0) == 8);
  CHECK(fs::exists(dir.file("f_labels.npy")));
}

TEST_CASE("images: --image-size 32 gives 32x32 views and a 32x32 evaluation, from images of mixed sizes") {
  TempDir dir("img_train_size");
  for (int i = 0; i < 8; ++i) {
    write_png(dir.file("data/a/" + std::to_string(i) + ".png"), 40 + i, 24, 3, i);
    write_png(dir.file("data/b/" + std::to_string(i) + ".jpg"), 20, 30 + i, 3, 10 + i);  // .jpg name, PNG bytes: read by content
  }
  TrainConfig config = tiny_config(dir.file("data"), dir.file("run"));
  config.image_size = 32;
  config.val_fraction = 0.25;
  config.knn_k = 0;
  ViewShapes views;
  const TrainResult r = train(config, StartMode::New, views.hooks());
  CHECK(r.steps == 1);  // 12 training images, batch 8
  CHECK(views.seen == std::set<Shape>{Shape{16, 3, 32, 32}});

  EvalConfig ec;
  ec.run = dir.file("run");
  ec.probe_epochs = 1;
  ec.knn_k = 2;
  const EvalReport report = evaluate_run(ec);
  CHECK(report.rows[0].feature_dim == 3 * 32 * 32);
  CHECK(report.train_size == 12);  // the run's --val-fraction split, found again
  CHECK(report.test_size == 4);
  // embed reads the run's data the same way: mixed sizes brought to 32, the same split.
  CHECK(embed_to_npy(dir.file("run"), "", "test", dir.file("f.npy")).size(0) == 4);
  CHECK(embed_to_npy(dir.file("run"), "", "train", dir.file("f.npy")).size(0) == 12);

  // --resume cannot change the size.
  TrainConfig other = config;
  other.image_size = 16;
  CHECK(contains(message_of([&] { train(other, StartMode::Resume, views.hooks()); }),
                 "--image-size (the run has 32, asked for 16)"));
  // Without --image-size the same folder is refused, naming two files.
  config.image_size = 0;
  config.out_dir = dir.file("run2");
  CHECK(contains(message_of([&] { train(config, StartMode::New, views.hooks()); }), "give --image-size N"));
}

TEST_CASE("images: an unlabeled folder trains; eval needs labels, or a labeled folder from --eval-data") {
  TempDir dir("img_train_unlabeled");
  for (int i = 0; i < 16; ++i) write_png(dir.file("photos/" + std::to_string(i) + ".png"), 16, 16, 3, i);
  write_gray_classes(dir.path / "labeled", 6, 16, 16);  // gray: read as RGB, the run's channels
  TrainConfig config = tiny_config(dir.file("photos"), dir.file("run"));
  ViewShapes views;
  TrainResult r = train(config, StartMode::New, views.hooks());
  CHECK(r.steps == 2);
  CHECK(views.seen == std::set<Shape>{Shape{16, 3, 16, 16}});
  CHECK(r.epochs[0].knn_accuracy < 0);  // nothing labeled to monitor with

  EvalConfig ec;
  ec.run = dir.file("run");
  ec.probe_epochs = 1;
  ec.knn_k = 2;
  ec.baselines = false;
  const std::string msg = message_of([&] { evaluate_run(ec); });
  INFO(msg);
  CHECK(contains(msg, "eval needs labels: the images in '" + dir.file("photos") + "' have no class subfolders"));
  CHECK(contains(msg, "--eval-data"));
  ec.data = dir.file("labeled");
  ec.val_fraction = 0.5;
  const EvalReport report = evaluate_run(ec);
  CHECK(report.train_size == 6);
  CHECK(report.test_size == 6);
  // embed of the unlabeled training images: features, and no labels file.
  const Tensor f = embed_to_npy(dir.file("run"), "", "train", dir.file("f.npy"));
  CHECK(f.size(0) == 16);
  CHECK_FALSE(fs::exists(dir.file("f_labels.npy")));

  // Trained with --eval-data: the kNN monitor runs on it, and eval finds it by itself.
  config.out_dir = dir.file("run_eval");
  config.eval_data = dir.file("labeled");
  config.val_fraction = 0.5;
  r = train(config, StartMode::New, views.hooks());
  CHECK(r.epochs[0].knn_accuracy >= 0);
  ec.run = dir.file("run_eval");
  ec.data = "";
  ec.val_fraction = -1;
  CHECK(evaluate_run(ec).test_size == 6);
}

// ---- the `simclr` program on image folders ----------------------------------------------
#ifdef SC_SIMCLR_BIN
namespace {

struct Ran {
  int exit_code = -1;
  std::string output;
};

Ran simclr(const std::string& args, const TempDir& scratch) {
  const std::string log = scratch.file("cli-output.txt");
  const int status = std::system((std::string(SC_SIMCLR_BIN) + " " + args + " > '" + log + "' 2>&1").c_str());
  Ran r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(log);
  r.output.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return r;
}

}  // namespace

TEST_CASE("images: simclr train, eval and augment-preview on image folders; bad folders exit 1 naming the file") {
  TempDir dir("img_cli");
  write_gray_classes(dir.path / "gray", 8, 12, 12);
  for (int i = 0; i < 16; ++i) write_png(dir.file("photos/" + std::to_string(i) + ".png"), 20 + i, 18, 3, i);
  const std::string tiny = " --width 4 --projection-dim 8 --batch-size 8 --workers 1 --threads 1 --knn-k 3 --log-every 100 ";

  Ran r = simclr("train --data '" + dir.file("gray") + "' --val-fraction 0.25 --out '" + dir.file("run_gray") + "'" + tiny, dir);
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK(contains(r.output, "(12 images, 1x12x12)"));
  CHECK(contains(r.output, "augment simclr-gray"));
  r = simclr("eval --run '" + dir.file("run_gray") + "' --epochs 1 --knn-k 2 --quiet", dir);
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK(contains(r.output, "(12 images)   test: " + dir.file("gray") + " (--val-fraction part) (4 images)"));

  r = simclr("train --data '" + dir.file("photos") + "' --image-size 16 --out '" + dir.file("run_photos") + "'" + tiny, dir);
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK(contains(r.output, "(16 images, 3x16x16)"));
  CHECK(contains(r.output, "no kNN monitor: the training images have no labels"));
  r = simclr("eval --run '" + dir.file("run_photos") + "' --epochs 1", dir);
  CHECK(r.exit_code == 1);
  CHECK(contains(r.output, "error: eval needs labels"));
  r = simclr("eval --run '" + dir.file("run_photos") + "' --eval-data '" + dir.file("gray") +
                 "' --val-fraction 0.5 --epochs 1 --knn-k 2 --no-baselines --quiet",
             dir);
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  r = simclr("train --resume '" + dir.file("run_photos") + "' --image-size 32 --channels 1", dir);
  CHECK(r.exit_code == 1);
  CHECK(contains(r.output, "--image-size (the run has 16, asked for 32)"));
  CHECK(contains(r.output, "--channels (the run has 0, asked for 1)"));

  r = simclr("augment-preview --data '" + dir.file("photos") + "' --image-size 16 --out '" + dir.file("p.png") + "'", dir);
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK(fs::file_size(dir.file("p.png")) > 0);

  // Bad input: exit 1, the file or the flag named, no run written.
  r = simclr("train --data '" + dir.file("photos") + "' --out '" + dir.file("run_bad") + "'" + tiny, dir);
  CHECK(r.exit_code == 1);
  CHECK(contains(r.output, "(width x height) but"));
  CHECK(contains(r.output, "give --image-size N"));
  write_bytes(dir.file("photos/99.png"), {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 1, 2, 3});
  r = simclr("train --data '" + dir.file("photos") + "' --image-size 16 --out '" + dir.file("run_bad") + "'" + tiny, dir);
  CHECK(r.exit_code == 1);
  CHECK(contains(r.output, "error: cannot decode image file " + dir.file("photos/99.png") + " as PNG"));
  CHECK_FALSE(fs::exists(dir.file("run_bad/metrics.jsonl")));
  for (const auto& flag_and_error : std::vector<std::pair<std::string, std::string>>{
           {"--image-size -1", "--image-size must be in [0, 8192]"},
           {"--channels 4", "--channels must be 0 (as the images), 1 (gray) or 3 (RGB), got 4"},
           {"--val-fraction 1", "--val-fraction must be in [0, 0.9]"},
       }) {
    CAPTURE(flag_and_error.first);
    r = simclr("train --data '" + dir.file("gray") + "' " + flag_and_error.first + " --out '" + dir.file("run_bad") + "'", dir);
    CHECK(r.exit_code == 1);
    CHECK(contains(r.output, flag_and_error.second));
  }
  // eval's --val-fraction is checked before the run loads (there is none here).
  r = simclr("eval --run '" + dir.file("no-such-run") + "' --val-fraction 2", dir);
  CHECK(r.exit_code == 1);
  CHECK(contains(r.output, "--val-fraction must be -1 (as the run) or in [0, 0.9] (0: no split), got 2"));
  r = simclr("train --help", dir);
  CHECK(contains(r.output, "unlabeled images root/<image>.png|.jpg, no subfolders"));
}
#endif

TEST_CASE("images: a run on an image folder from before --image-size existed is refused on resume, not changed") {
  TrainConfig c;
  c.data = "/some/images";
  nlohmann::json old = nlohmann::json::parse(config_to_json(c));
  old.erase("image_size");  // what an older simclr wrote
  old.erase("channels");
  const std::string message = message_of([&] { check_resume_compatible(old.dump(), c); });
  CHECK(contains(message, "written by an older simclr"));
  CHECK(contains(message, "Start a new run"));
  // The same config written by this version resumes, and Fashion-MNIST runs (no --data) from
  // before are unaffected: their views were always the images' size.
  CHECK_NOTHROW(check_resume_compatible(config_to_json(c), c));
  TrainConfig fashion;
  nlohmann::json old_fashion = nlohmann::json::parse(config_to_json(fashion));
  old_fashion.erase("image_size");
  CHECK_NOTHROW(check_resume_compatible(old_fashion.dump(), fashion));
}
