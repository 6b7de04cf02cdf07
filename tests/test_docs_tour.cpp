// docs/TOUR.md cannot rot: every `file:line name` reference in it must still point at `name`,
// give or take a few lines. When code moves, this test names each stale reference and the line
// where the name is now. CTest also runs it on its own, as the `tour` test.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/test_util.h"

using namespace sc::test;
namespace fs = std::filesystem;

namespace {

constexpr int kSlack = 3;  // how far (in lines) a name may sit from the line the tour gives

struct TourRef {
  int doc_line = 0;  // where the reference is in the document
  std::string text;  // "ssl/trainer.cpp:190 train_step"
  std::string file;
  int line = 0;
  std::string name;
};

// References are written in backticks as `path:line name`, path relative to the repository.
std::vector<TourRef> find_refs(const std::string& doc) {
  static const std::regex ref(R"(`([A-Za-z0-9_./-]+\.(?:cpp|h|cu|cuh|py|cmake|sh|txt)):([0-9]+) ([A-Za-z_~][A-Za-z0-9_:~]*)`)");
  std::vector<TourRef> refs;
  std::istringstream in(doc);
  int doc_line = 0;
  for (std::string line; std::getline(in, line);) {
    ++doc_line;
    for (auto it = std::sregex_iterator(line.begin(), line.end(), ref); it != std::sregex_iterator(); ++it) {
      const std::smatch& m = *it;
      refs.push_back({doc_line, m[0].str().substr(1, m[0].length() - 2), m[1].str(), std::stoi(m[2].str()), m[3].str()});
    }
  }
  return refs;
}

bool has_word(const std::string& line, const std::string& name) {
  auto is_word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  for (size_t at = line.find(name); at != std::string::npos; at = line.find(name, at + 1)) {
    const bool starts = at == 0 || !is_word(line[at - 1]);
    const bool ends = at + name.size() >= line.size() || !is_word(line[at + name.size()]);
    if (starts && ends) return true;
  }
  return false;
}

// One message per reference that does not hold, naming where the name is now.
std::vector<std::string> check_refs(const std::vector<TourRef>& refs, const fs::path& root, const std::string& doc_name) {
  std::vector<std::string> problems;
  for (const TourRef& r : refs) {
    const std::string where = doc_name + ":" + std::to_string(r.doc_line) + ": `" + r.text + "`: ";
    std::ifstream in(root / r.file);
    if (!in) {
      problems.push_back(where + "no file " + r.file);
      continue;
    }
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    bool near = false;
    for (int l = std::max(1, r.line - kSlack); l <= std::min<int>(static_cast<int>(lines.size()), r.line + kSlack); ++l)
      near = near || has_word(lines[static_cast<size_t>(l - 1)], r.name);
    if (near) continue;
    std::string now;
    for (size_t l = 0; l < lines.size(); ++l)
      if (has_word(lines[l], r.name)) now += (now.empty() ? "" : ", ") + std::to_string(l + 1);
    problems.push_back(where + "'" + r.name + "' is not within " + std::to_string(kSlack) + " lines of line " +
                       std::to_string(r.line) + (now.empty() ? " and not in the file at all" : " (it is on line " + now + ")"));
  }
  return problems;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("docs: every file:line reference in docs/TOUR.md still points at the name it gives") {
  const fs::path root = SC_SOURCE_DIR;
  const std::string doc = read_text(root / "docs" / "TOUR.md");
  REQUIRE_MESSAGE(!doc.empty(), "docs/TOUR.md is missing or empty");
  const std::vector<TourRef> refs = find_refs(doc);
  // Both tours (a training step, one conv2d) stop at many places; a parse that finds few is broken.
  CHECK(refs.size() >= 40);
  for (const std::string& problem : check_refs(refs, root, "docs/TOUR.md")) FAIL_CHECK(problem);
}

TEST_CASE("docs: the tour check catches a moved name and a missing file") {
  TempDir dir("tour");
  {
    std::ofstream(dir.path / "a.cpp") << "// one\n\nint first() { return 1; }\n\n\n\n\n\n\nint second() { return 2; }\n";
  }
  const std::string doc =
      "ok `a.cpp:3 first`, near `a.cpp:8 second`, moved `a.cpp:3 second`, a prefix only `a.cpp:3 firs`,\n"
      "gone `b.cpp:1 main`";
  const std::vector<TourRef> refs = find_refs(doc);
  REQUIRE(refs.size() == 5);
  CHECK(refs[0].file == "a.cpp");
  CHECK(refs[0].line == 3);
  CHECK(refs[0].name == "first");
  const std::vector<std::string> problems = check_refs(refs, dir.path, "T.md");
  REQUIRE(problems.size() == 3);
  CHECK(problems[0] == "T.md:1: `a.cpp:3 second`: 'second' is not within 3 lines of line 3 (it is on line 10)");
  CHECK(problems[1] == "T.md:1: `a.cpp:3 firs`: 'firs' is not within 3 lines of line 3 and not in the file at all");
  CHECK(problems[2] == "T.md:2: `b.cpp:1 main`: no file b.cpp");
}
