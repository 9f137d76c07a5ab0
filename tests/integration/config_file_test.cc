// `topup serve --config`: the example file of the repository runs a server, every flag of
// `topup serve --help` is a key of it, and a bad file stops the server at start, naming the
// file, the line and the key.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <set>

#include "process/child_process.h"
#include "testing/server_support.h"

namespace topup {
namespace {

const std::string kExample = std::string(TOPUP_SOURCE_DIR) + "/packaging/topup.toml";

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::string> dir = testing::MakeTempDir("topup-config-");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    dir_ = *dir;
  }
  void TearDown() override {
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  // Runs `topup serve` with `args` to its end (a refused configuration exits at once); returns
  // its exit code, with its stderr in *err.
  int RunToExit(const std::vector<std::string>& args, std::string* err) {
    std::string command = std::string(TOPUP_BINARY) + " serve";
    for (const std::string& arg : args) command += " '" + arg + "'";
    command += " > " + dir_ + "/out.txt 2> " + dir_ + "/err.txt";
    const int status = std::system(command.c_str());
    *err = ReadFile(dir_ + "/err.txt");
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::string dir_;
};

TEST_F(ConfigFileTest, TheExampleFileNamesEveryFlag) {
  std::string err;
  ASSERT_EQ(RunToExit({"--help"}, &err), 0) << err;
  const std::string help = ReadFile(dir_ + "/out.txt");
  const std::string example = ReadFile(kExample);
  ASSERT_FALSE(example.empty()) << kExample;
  std::set<std::string> flags;
  const std::regex flag(R"(--([a-z][a-z0-9-]*))");
  for (auto it = std::sregex_iterator(help.begin(), help.end(), flag); it != std::sregex_iterator();
       ++it) {
    flags.insert((*it)[1]);
  }
  ASSERT_GT(flags.size(), 15u) << help;
  for (const std::string& name : flags) {
    if (name == "help" || name == "config" || name == "db") continue;  // db: an alias of store
    // --no-X is the negation of a flag --X: one key, X = false.
    if (name.starts_with("no-") && flags.contains(name.substr(3))) continue;
    EXPECT_TRUE(std::regex_search(example, std::regex("(^|\\n)" + name + " = ")))
        << "--" << name << " has no key in " << kExample;
  }
}

TEST_F(ConfigFileTest, TheExampleFileServesAndFlagsWinOverIt) {
  // The example's store and master key are system paths: the command line puts them in the
  // test's directory.
  std::ofstream(dir_ + "/master.key") << std::string(64, 'a');
  Result<process::ChildProcess> serve = process::ChildProcess::Spawn(
      {TOPUP_BINARY, "serve", "--config", kExample, "--store", dir_ + "/topup.db", "--port", "0",
       "--master-key-file", dir_ + "/master.key"},
      dir_ + "/serve.log");
  ASSERT_TRUE(serve.ok()) << serve.status().ToString();
  Result<uint16_t> port = serve->WaitForListening(std::chrono::seconds(30));
  ASSERT_TRUE(port.ok()) << port.status().ToString() << testing::LastLines(dir_ + "/serve.log", 20);
  EXPECT_NE(*port, 8080);  // --port 0 won over the file's 8080
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/topup.db"));
  EXPECT_EQ(serve->Stop(SIGTERM), 0);
}

TEST_F(ConfigFileTest, ABadFileStopsTheServerNamingFileLineAndKey) {
  const std::string path = dir_ + "/bad.toml";
  std::ofstream(path) << "port = 0\nstore = \"" << dir_ << "/topup.db\"\nworkres = 10\n";
  std::string err;
  EXPECT_EQ(RunToExit({"--config", path}, &err), 2);
  EXPECT_NE(err.find(path + ":3: key \"workres\": no such setting"), std::string::npos) << err;

  std::ofstream(path, std::ios::trunc) << "port = 0\nlease-ms = 20\n";
  EXPECT_EQ(RunToExit({"--config", path}, &err), 2);
  EXPECT_NE(err.find(path + ":2: key \"lease-ms\": "), std::string::npos) << err;

  std::ofstream(path, std::ios::trunc) << "log-format = \"xml\"\n";
  EXPECT_EQ(RunToExit({"--config", path}, &err), 2);
  EXPECT_NE(err.find(path + ":1: key \"log-format\": "), std::string::npos) << err;
}

}  // namespace
}  // namespace topup
