// The API handlers know no engine: src/api includes nothing of src/engine (the callback route
// lives beside the engine, and src/cli assembles the routes).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace topup::api {
namespace {

TEST(LayeringTest, TheApiIncludesNothingOfTheEngine) {
  const std::filesystem::path api = std::filesystem::path(TOPUP_SOURCE_DIR) / "src" / "api";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(api)) {
    std::ifstream file(entry.path());
    ++files;
    for (std::string line; std::getline(file, line);) {
      EXPECT_FALSE(line.starts_with("#include \"engine/"))
          << entry.path().filename() << ": " << line;
    }
  }
  EXPECT_GT(files, 10);
}

}  // namespace
}  // namespace topup::api
