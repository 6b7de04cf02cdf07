#pragma once
// The checks fuzz_idx and fuzz_idx_gz run on one IDX file.
#include "fuzz_util.h"
#include "ssl/data/idx.h"

namespace sc::fuzz {

inline void check_idx_file(const std::filesystem::path& file, const std::filesystem::path& scratch) {
  clean_errors_only([&] { ssl::read_idx(file, 0x00000801); });  // as a labels file
  clean_errors_only([&] {
    // As an images file; when it reads, pair it with a labels file of the same count so that
    // load_idx and the Dataset constructor see it too.
    const ssl::IdxArray images = ssl::read_idx(file, 0x00000803);
    const uint32_t count = images.dims[0];
    std::string labels = {0, 0, 8, 1, char(count >> 24), char(count >> 16), char(count >> 8), char(count)};
    for (uint32_t i = 0; i < count; ++i) labels += char(i % 10);
    const std::filesystem::path labels_file = scratch / "labels";
    write_file(labels_file, reinterpret_cast<const uint8_t*>(labels.data()), labels.size());
    ssl::load_idx(file, labels_file, 10, "fuzz");
  });
}

}  // namespace sc::fuzz
