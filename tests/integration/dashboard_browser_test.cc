// The operator dashboard in a real browser: `topup sim` and `topup serve` as processes, orders
// placed over HTTP, then Debian's chromium (headless, driven over the DevTools protocol by
// tests/browser/dashboard_check.js, which needs only Debian's nodejs) signs in at /ui, waits for
// the counts to be those the order list API gives, searches an order and opens its history, and
// writes a screenshot under the build dir. The same check is also run with a wrong token and with
// wrong counts, and must fail then.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <sys/wait.h>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "auth/merchant_keys.h"
#include "auth/request_signature.h"
#include "auth/secret_box.h"
#include "backends/backends.h"
#include "http/http_client.h"
#include "process/child_process.h"
#include "testing/server_support.h"
#include "topup/clock.h"

namespace topup {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kToken[] = "dashboard-admin-token";
constexpr int kOrders = 12;
const std::filesystem::path kBrowserDir = std::filesystem::path(TOPUP_SOURCE_DIR) / "tests/browser";

class DashboardBrowserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::string> dir = testing::MakeTempDir("topup-dashboard-");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    dir_ = *dir;
    log_path_ = dir_ + "/children.log";
    node_ = testing::FindExecutable("node");
    ASSERT_FALSE(node_.empty()) << "node is missing: run scripts/bootstrap.sh";
    ASSERT_TRUE(std::filesystem::exists("/usr/bin/chromium"))
        << "chromium is missing: run scripts/bootstrap.sh";
  }
  void TearDown() override {
    for (process::ChildProcess& child : children_) child.Stop(SIGTERM);
    if (!HasFailure()) std::filesystem::remove_all(dir_);  // kept for inspection otherwise
  }

  uint16_t StartListening(const std::vector<std::string>& argv) {
    Result<process::ChildProcess> child = process::ChildProcess::Spawn(argv, log_path_);
    EXPECT_TRUE(child.ok()) << child.status().ToString();
    if (!child.ok()) return 0;
    Result<uint16_t> port = child->WaitForListening(seconds(30));
    EXPECT_TRUE(port.ok()) << port.status().ToString() << "\n" << testing::LastLines(log_path_, 20);
    children_.push_back(std::move(*child));
    return port.ok() ? *port : 0;
  }

  // Runs the browser check with `args`; returns its exit code (bounded: it is killed after 90 s).
  int RunCheck(std::vector<std::string> args, const std::string& log_name) {
    std::vector<std::string> argv = {node_, (kBrowserDir / "dashboard_check.js").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    const std::string log = dir_ + "/" + log_name;
    Result<process::ChildProcess> child = process::ChildProcess::Spawn(argv, log);
    EXPECT_TRUE(child.ok()) << child.status().ToString();
    if (!child.ok()) return -1;
    const auto deadline = std::chrono::steady_clock::now() + seconds(90);
    while (!testing::ChildExited(child->pid()) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(100));
    }
    const int status = child->Stop(SIGKILL, seconds(5));
    last_check_log_ = testing::LastLines(log, 20);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::string dir_;
  std::string log_path_;
  std::string node_;
  std::string last_check_log_;
  std::vector<process::ChildProcess> children_;
};

Result<http::HttpResponse> Send(uint16_t port, const std::string& method, const std::string& target,
                                const std::string& body,
                                const std::vector<std::pair<std::string, std::string>>& headers) {
  http::HttpClient client("127.0.0.1", port);
  return client.Send(method, target, body, seconds(10), headers);
}

// The number of orders in `status`, from the admin order list.
int64_t CountByList(uint16_t port, const std::string& status) {
  Result<http::HttpResponse> listed =
      Send(port, "GET", "/v1/admin/orders?limit=1000&status=" + status, "",
           {{"Authorization", std::string("Bearer ") + kToken}});
  if (!listed.ok() || listed->status != 200) return -1;
  return static_cast<int64_t>(json::parse(listed->body).at("orders").as_array().size());
}

TEST_F(DashboardBrowserTest, TheDashboardShowsTheStoreAndAnOrdersHistory) {
  const auto started = std::chrono::steady_clock::now();
  const std::string store_url = dir_ + "/topup.db";
  const std::string master_key = auth::RandomHex(auth::SecretBox::kKeyBytes);
  std::ofstream(dir_ + "/master.key") << master_key;
  auth::NewMerchantKey key;
  {
    Result<std::unique_ptr<Store>> store = OpenStore(store_url);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    const int64_t now_ms = SystemClock()->NowMs();
    ASSERT_TRUE((*store)->CreateMerchant("shop", "Shop", now_ms).ok());
    ASSERT_TRUE((*store)->FundMerchant("shop", 10'000'000, "test", now_ms).ok());
    Result<auth::SecretBox> box = auth::SecretBox::FromHex(master_key);
    ASSERT_TRUE(box.ok());
    Result<auth::NewMerchantKey> made = auth::CreateMerchantKey(**store, *box, "shop", now_ms);
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    key = *made;
  }
  // A third of the orders fail at the supplier, so that both final counts are non-zero.
  const uint16_t sim_port =
      StartListening({TOPUP_BINARY, "sim", "--port", "0", "--fail-rate", "0.3", "--seed", "7"});
  ASSERT_NE(sim_port, 0);
  const uint16_t port = StartListening(
      {TOPUP_BINARY, "serve", "--store", store_url, "--port", "0", "--supplier-url",
       "http://127.0.0.1:" + std::to_string(sim_port), "--master-key-file", dir_ + "/master.key",
       "--admin-token", kToken, "--attempt-timeout-ms", "1500", "--max-attempts", "1"});
  ASSERT_NE(port, 0);

  std::string order_id;
  for (int i = 0; i < kOrders; ++i) {
    const std::string body = R"({"merchant_id":"shop","merchant_order_id":"mo-)" +
                             std::to_string(i) + R"(","phone":"1380013)" +
                             std::to_string(8000 + i) + R"(","face_value":10})";
    Result<http::HttpResponse> placed =
        Send(port, "POST", "/v1/orders", body,
             auth::SignatureHeaders(key.key_id, key.secret, "POST", "/v1/orders", body,
                                    SystemClock()->NowMs() / 1000, auth::NewNonce()));
    ASSERT_TRUE(placed.ok()) << placed.status().ToString();
    ASSERT_EQ(placed->status, 201) << placed->body;
    if (i == 3) order_id = json::value_to<std::string>(json::parse(placed->body).at("order_id"));
  }
  // Every order final, by the API (bounded).
  int64_t succeeded = 0;
  int64_t failed = 0;
  for (auto deadline = std::chrono::steady_clock::now() + seconds(30);
       succeeded + failed < kOrders && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(milliseconds(200));
    succeeded = CountByList(port, "success");
    failed = CountByList(port, "failed");
  }
  ASSERT_EQ(succeeded + failed, kOrders);

  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  const std::filesystem::path artefacts = std::filesystem::path(TOPUP_BUILD_DIR) / "artefacts";
  std::filesystem::create_directories(artefacts);
  const std::string screenshot = (artefacts / "dashboard.png").string();
  std::filesystem::remove(screenshot);
  const std::string expect =
      "success=" + std::to_string(succeeded) + ",failed=" + std::to_string(failed);
  EXPECT_EQ(RunCheck({"--url", url, "--token", kToken, "--expect", expect, "--search", "mo-3",
                      "--order", order_id, "--screenshot", screenshot, "--wait-ms", "20000"},
                     "check.log"),
            0)
      << last_check_log_;
  EXPECT_TRUE(std::filesystem::exists(screenshot)) << last_check_log_;

  // The check fails when the login does, and when the counts are not those shown.
  EXPECT_EQ(
      RunCheck({"--url", url, "--token", "not-the-token", "--expect", expect, "--search", "mo-3",
                "--order", order_id, "--screenshot", dir_ + "/x.png", "--wait-ms", "2000"},
               "wrong_token.log"),
      1);
  EXPECT_NE(last_check_log_.find("login failed"), std::string::npos) << last_check_log_;
  const std::string wrong =
      "success=" + std::to_string(succeeded + 1) + ",failed=" + std::to_string(failed);
  EXPECT_EQ(RunCheck({"--url", url, "--token", kToken, "--expect", wrong, "--search", "mo-3",
                      "--order", order_id, "--screenshot", dir_ + "/y.png", "--wait-ms", "2000"},
                     "wrong_count.log"),
            1);
  EXPECT_NE(last_check_log_.find("counts shown"), std::string::npos) << last_check_log_;
  EXPECT_LT(std::chrono::steady_clock::now() - started, seconds(60));
}

}  // namespace
}  // namespace topup
