// The operator's commands as real processes: topup serve refusing to start without a master key,
// topup merchant key add|list|revoke on the store, and topup call signing requests to a server.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "process/child_process.h"

namespace topup {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

constexpr const char* kMasterKey =
    "8f1b6a0c2d3e4f5061728394a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8";

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs `topup args...` to its end, at most 30 s (then SIGKILLed by its pid).
CommandResult RunTopup(const std::vector<std::string>& args) {
  CommandResult result;
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return result;
  std::vector<std::string> argv = {TOPUP_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    dup2(pipe_fds[1], STDERR_FILENO);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    std::vector<char*> raw;
    for (std::string& arg : argv) raw.push_back(arg.data());
    raw.push_back(nullptr);
    execv(raw[0], raw.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  const auto deadline = SteadyClock::now() + std::chrono::seconds(30);
  char buffer[4096];
  while (SteadyClock::now() < deadline) {
    pollfd poll_fd{.fd = pipe_fds[0], .events = POLLIN, .revents = 0};
    if (poll(&poll_fd, 1, 100) <= 0) continue;
    const ssize_t n = read(pipe_fds[0], buffer, sizeof buffer);
    if (n <= 0) break;
    result.output.append(buffer, static_cast<size_t>(n));
  }
  close(pipe_fds[0]);
  if (SteadyClock::now() >= deadline) kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// The value after "<name> " on a line of `output`.
std::string Field(const std::string& output, const std::string& name) {
  const size_t at = output.find(name + " ");
  if (at == std::string::npos) return "";
  const size_t begin = at + name.size() + 1;
  return output.substr(begin, output.find('\n', begin) - begin);
}

class MerchantCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("topup-cli-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    db_ = (dir_ / "topup.db").string();
    key_file_ = (dir_ / "master.key").string();
    std::ofstream(key_file_) << kMasterKey << "\n";
  }
  void TearDown() override {
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  Result<process::ChildProcess> Serve(const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {TOPUP_BINARY, "serve", "--db", db_, "--port", "0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return process::ChildProcess::Spawn(argv, (dir_ / "serve.log").string());
  }

  std::filesystem::path dir_;
  std::string db_;
  std::string key_file_;
};

TEST_F(MerchantCliTest, ServeRefusesToStartWithoutAMasterKeyUnlessDev) {
  CommandResult refused = RunTopup({"serve", "--db", db_, "--port", "0"});
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_NE(refused.output.find("master key"), std::string::npos) << refused.output;
  std::ofstream((dir_ / "short.key").string()) << "abcd\n";
  CommandResult invalid = RunTopup(
      {"serve", "--db", db_, "--port", "0", "--master-key-file", (dir_ / "short.key").string()});
  EXPECT_EQ(invalid.exit_code, 2) << invalid.output;

  CommandResult bad_rate =
      RunTopup({"serve", "--db", db_, "--port", "0", "--dev", "--merchant-rate", "shop1=fast"});
  EXPECT_EQ(bad_rate.exit_code, 2) << bad_rate.output;

  Result<process::ChildProcess> dev =
      Serve({"--dev", "--merchant-rate", "shop1=10:20", "--merchant-rate-per-s", "100"});
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  EXPECT_TRUE(dev->WaitForListening(milliseconds(30'000)).ok());
  dev->Stop(SIGTERM);
}

TEST_F(MerchantCliTest, KeysMadeOnTheCommandLineSignCallsUntilRevoked) {
  ASSERT_EQ(RunTopup({"merchant", "add", "--db", db_, "--id", "shop1"}).exit_code, 0);
  ASSERT_EQ(RunTopup({"merchant", "fund", "--db", db_, "--id", "shop1", "--amount-fen", "100000"})
                .exit_code,
            0);
  CommandResult no_master = RunTopup({"merchant", "key", "add", "--db", db_, "--id", "shop1"});
  EXPECT_NE(no_master.exit_code, 0);
  CommandResult made = RunTopup(
      {"merchant", "key", "add", "--db", db_, "--id", "shop1", "--master-key-file", key_file_});
  ASSERT_EQ(made.exit_code, 0) << made.output;
  const std::string key_id = Field(made.output, "key_id");
  const std::string secret = Field(made.output, "secret");
  ASSERT_FALSE(key_id.empty()) << made.output;
  ASSERT_EQ(secret.size(), 64u) << made.output;
  CommandResult listed = RunTopup({"merchant", "key", "list", "--db", db_, "--id", "shop1"});
  EXPECT_EQ(listed.exit_code, 0);
  EXPECT_NE(listed.output.find(key_id + " active"), std::string::npos) << listed.output;
  EXPECT_EQ(listed.output.find(secret), std::string::npos) << "the secret is shown once only";

  Result<process::ChildProcess> server = Serve({"--master-key-file", key_file_});
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  Result<uint16_t> port = server->WaitForListening(milliseconds(30'000));
  ASSERT_TRUE(port.ok()) << port.status().ToString();
  const std::string base = "http://127.0.0.1:" + std::to_string(*port);

  CommandResult placed =
      RunTopup({"call", "--key-id", key_id, "--secret", secret, "POST", base + "/v1/orders",
                R"({"merchant_id":"shop1","merchant_order_id":"A-1","phone":"13800138000",)"
                R"("face_value":50})"});
  EXPECT_EQ(placed.exit_code, 0) << placed.output;
  EXPECT_NE(placed.output.find("HTTP 201"), std::string::npos) << placed.output;
  CommandResult read = RunTopup({"call", "--key-id", key_id, "--secret", secret, "GET",
                                 base + "/v1/orders?merchant_order_id=A-1"});
  EXPECT_EQ(read.exit_code, 0) << read.output;
  EXPECT_NE(read.output.find("\"merchant_order_id\":\"A-1\""), std::string::npos) << read.output;
  CommandResult unsigned_call =
      RunTopup({"call", "GET", base + "/v1/orders?merchant_order_id=A-1"});
  EXPECT_EQ(unsigned_call.exit_code, 2) << unsigned_call.output;
  CommandResult wrong = RunTopup({"call", "--key-id", key_id, "--secret", std::string(64, '0'),
                                  "GET", base + "/v1/orders?merchant_order_id=A-1"});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.output.find("bad_signature"), std::string::npos) << wrong.output;

  ASSERT_EQ(
      RunTopup({"merchant", "key", "revoke", "--db", db_, "--id", "shop1", "--key-id", key_id})
          .exit_code,
      0);
  // The server trusts what it read of a key for at most a second.
  const auto deadline = SteadyClock::now() + std::chrono::seconds(10);
  CommandResult after;
  do {
    after = RunTopup({"call", "--key-id", key_id, "--secret", secret, "GET",
                      base + "/v1/orders?merchant_order_id=A-1"});
  } while (after.output.find("key_revoked") == std::string::npos && SteadyClock::now() < deadline);
  EXPECT_NE(after.output.find("key_revoked"), std::string::npos) << after.output;
  server->Stop(SIGTERM);
}

}  // namespace
}  // namespace topup
