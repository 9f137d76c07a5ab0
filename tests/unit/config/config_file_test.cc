#include "config/config_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace topup::config {
namespace {

// A command with the kinds of flags `topup serve` has.
class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    app_.add_option("--store,--db", store_)->capture_default_str();
    app_.add_option("--port", port_);
    app_.add_option("--workers", workers_)->check(CLI::Range(1, 4096));
    app_.add_option("--attempt-timeout-ms", attempt_timeout_ms_);
    app_.add_option("--log-format", log_format_)->check(CLI::IsMember({"text", "json"}));
    app_.add_option("--config", config_);
    path_ = (std::filesystem::temp_directory_path() /
             ("topup-config-" + std::to_string(getpid()) + ".toml"))
                .string();
  }
  void TearDown() override { std::filesystem::remove(path_); }

  Status Apply(const std::string& toml, std::vector<std::string> args = {}) {
    std::ofstream(path_) << toml;
    std::vector<const char*> argv = {"serve"};
    for (const std::string& arg : args) argv.push_back(arg.c_str());
    app_.parse(static_cast<int>(argv.size()), argv.data());
    return ApplyConfigFile(path_, &app_, {"config"});
  }

  CLI::App app_;
  std::string store_ = "topup.db";
  uint16_t port_ = 8080;
  int workers_ = 1024;
  int64_t attempt_timeout_ms_ = 10'000;
  std::string log_format_ = "text";
  std::string config_;
  std::string path_;
};

TEST_F(ConfigFileTest, KeysSetFlagsThatTheCommandLineDidNotGive) {
  Status status = Apply(
      "store = \"orders.db\"\nport = 9000\nworkers = 12\nattempt_timeout_ms = 1500\n"
      "log-format = \"json\"\n",
      {"--port", "7000"});
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(store_, "orders.db");
  EXPECT_EQ(port_, 7000);  // the command line wins
  EXPECT_EQ(workers_, 12);
  EXPECT_EQ(attempt_timeout_ms_, 1500);  // '_' stands for '-'
  EXPECT_EQ(log_format_, "json");
}

TEST_F(ConfigFileTest, ABooleanSetsAFlag) {
  bool dev = false;
  app_.add_flag("--dev", dev);
  ASSERT_TRUE(Apply("dev = true\n").ok());
  EXPECT_TRUE(dev);
}

TEST_F(ConfigFileTest, AnAliasIsAKeyToo) {
  ASSERT_TRUE(Apply("db = \"other.db\"\n").ok());
  EXPECT_EQ(store_, "other.db");
}

TEST_F(ConfigFileTest, AnEmptyFileChangesNothing) {
  ASSERT_TRUE(Apply("# nothing\n").ok());
  EXPECT_EQ(store_, "topup.db");
  EXPECT_EQ(workers_, 1024);
}

TEST_F(ConfigFileTest, UnknownKeysAreRefusedWithFileLineAndKey) {
  Status status = Apply("port = 9000\n\ncolour = \"blue\"\n");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message(), path_ + ":3: key \"colour\": no such setting");
}

TEST_F(ConfigFileTest, TheConfigKeyItselfIsRefused) {
  Status status = Apply("config = \"other.toml\"\n");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message(), path_ + ":1: key \"config\": no such setting");
}

TEST_F(ConfigFileTest, ValuesTheFlagWouldRefuseAreRefused) {
  Status range = Apply("store = \"a.db\"\nworkers = 0\n");
  ASSERT_FALSE(range.ok());
  EXPECT_EQ(range.message().rfind(path_ + ":2: key \"workers\": ", 0), 0u) << range.message();
}

TEST_F(ConfigFileTest, WrongTypesAreRefused) {
  Status text_for_number = Apply("port = \"eighty\"\n");
  ASSERT_FALSE(text_for_number.ok());
  EXPECT_EQ(text_for_number.message().rfind(path_ + ":1: key \"port\": ", 0), 0u)
      << text_for_number.message();
}

TEST_F(ConfigFileTest, ArraysAreForRepeatedFlagsAndTablesAreRefused) {
  std::vector<std::string> rates;
  app_.add_option("--merchant-rate", rates);
  ASSERT_TRUE(Apply("merchant-rate = [\"a=1\", \"b=2:3\"]\n").ok());
  EXPECT_EQ(rates, (std::vector<std::string>{"a=1", "b=2:3"}));
  Status nested = Apply("merchant-rate = [[\"a=1\"]]\n");
  ASSERT_FALSE(nested.ok());
  EXPECT_EQ(nested.message(), path_ +
                                  ":1: key \"merchant-rate\": must be a string, a number, a "
                                  "boolean or an array of them");
  Status table = Apply("[engine]\nworkers = 2\n");
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.message(), path_ + ":1: key \"engine\": no such setting");
}

TEST_F(ConfigFileTest, InvalidTomlIsRefusedWithItsLine) {
  Status status = Apply("port = 9000\nstore = \"unterminated\n");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message().rfind(path_ + ":2: ", 0), 0u) << status.message();
}

TEST_F(ConfigFileTest, AMissingFileIsRefused) {
  std::vector<const char*> argv = {"serve"};
  app_.parse(1, argv.data());
  Status status = ApplyConfigFile(path_ + ".absent", &app_);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find(path_ + ".absent"), std::string::npos);
}

TEST_F(ConfigFileTest, ConfigKeysAreTheLongFlagNames) {
  EXPECT_EQ(ConfigKeys(app_, {"config"}),
            (std::set<std::string>{"attempt-timeout-ms", "db", "log-format", "port", "store",
                                   "workers"}));
}

}  // namespace
}  // namespace topup::config
