// Several `topup serve` nodes on one machine sharing a private PostgreSQL and a private Redis or
// RabbitMQ, with nodes killed (mid-delivery of notifications too) and brokers restarted mid-load.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "backends/backends.h"
#include "loadgen/scenario.h"
#include "testing/postgres_server.h"
#include "testing/rabbitmq_server.h"
#include "testing/redis_server.h"

namespace topup::loadgen {
namespace {

class MultiNodeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto postgres = testing::PostgresServer::Start();
    ASSERT_TRUE(postgres.ok()) << postgres.status().ToString();
    postgres_ = postgres->release();
  }
  static void TearDownTestSuite() {
    delete postgres_;
    postgres_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(postgres_, nullptr);
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    dir_ = std::filesystem::temp_directory_path() /
           ("topup-multi-" + std::to_string(getpid()) + "-" + name);
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::string database = "t" + std::to_string(getpid()) + "_" + std::to_string(counter_++);
    auto url = postgres_->CreateDatabase(database);
    ASSERT_TRUE(url.ok()) << url.status().ToString();
    store_url_ = *url;
  }
  void TearDown() override {
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  ScenarioOptions Options(const std::string& queue_url) {
    ScenarioOptions options;
    options.topup_binary = TOPUP_BINARY;
    options.work_dir = dir_.string();
    options.store_url = store_url_;
    options.queue_url = queue_url;
    options.nodes = 3;
    options.orders = 900;
    options.connections = 9;
    options.rate_limit_per_s = 150;  // the load lasts long enough to span the faults
    options.load_max_ms = 120'000;
    options.wait_final_max_ms = 200'000;
    options.sim_flags = {"--latency-median-ms", "5",    "--latency-p99-ms",  "100",
                         "--fail-rate",         "0.05", "--processing-rate", "0.1",
                         "--no-dedup"};
    options.serve_flags = {
        "--attempt-timeout-ms", "1500", "--not-found-grace-ms", "3000", "--workers", "16"};
    return options;
  }

  void ExpectCorrect(const Result<ScenarioReport>& report) {
    ASSERT_TRUE(report.ok()) << report.status().ToString() << " (logs in " << dir_ << ")";
    std::ostringstream printed;
    PrintReport(*report, 180, printed);
    SCOPED_TRACE(printed.str());
    EXPECT_EQ(report->lost, 0);
    EXPECT_EQ(report->not_acknowledged, 0);
    EXPECT_EQ(report->orders_in_store, report->accepted);
    EXPECT_EQ(report->still_open, 0);
    EXPECT_EQ(report->double_credits, 0);
    EXPECT_EQ(report->credits_on_unsuccessful, 0);
    EXPECT_EQ(report->successes_without_credit, 0);
    EXPECT_EQ(report->missed_deadline, 0);
    EXPECT_TRUE(report->ledger_balanced) << report->ledger_problems;
    EXPECT_TRUE(report->Correct());
  }

  static inline testing::PostgresServer* postgres_ = nullptr;
  static inline int counter_ = 0;
  std::filesystem::path dir_;
  std::string store_url_;
};

TEST_F(MultiNodeTest, PostgresAndRedisThreeNodesOneKilled) {
  auto redis = testing::RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status().ToString();
  ScenarioOptions options = Options((*redis)->url());
  options.serve_kills = 1;
  options.restart_killed = false;  // its orders finish on the other two
  Result<ScenarioReport> report = RunScenario(options);
  ExpectCorrect(report);
  EXPECT_EQ(report->server_kills, 1);
}

TEST_F(MultiNodeTest, PostgresAndRabbitMqThreeNodesOneKilled) {
  auto rabbit = testing::RabbitMqServer::Start();
  ASSERT_TRUE(rabbit.ok()) << rabbit.status().ToString();
  ScenarioOptions options = Options((*rabbit)->url());
  options.serve_kills = 1;
  options.restart_killed = false;
  Result<ScenarioReport> report = RunScenario(options);
  ExpectCorrect(report);
  EXPECT_EQ(report->server_kills, 1);
}

TEST_F(MultiNodeTest, NodeKilledMidDeliveryLeavesItsNotificationsToAnother) {
  auto redis = testing::RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status().ToString();
  ScenarioOptions options = Options((*redis)->url());
  options.orders = 450;  // 3 s of load at 150/s
  // The receiver holds every notification unanswered for the first 7 s, so when node 0 is
  // SIGKILLed at 1.5 s the rows it claimed are in flight; not restarted, its claims lapse after
  // the 8 s lease and the other nodes take them over. Their own held tries time out after 5 s
  // and succeed on the 15 s retry.
  options.notify = true;
  options.receiver_faults = {{.kind = ReceiverFault::Kind::kHang, .from_ms = 0, .until_ms = 7'000}};
  options.serve_flags.insert(options.serve_flags.end(), {"--notify-lease-ms", "8000"});
  options.serve_kills = 1;
  options.kill_interval_ms = 1'500;
  options.restart_killed = false;
  std::shared_ptr<const MerchantReceiver> receiver;
  options.on_receiver = [&](std::shared_ptr<const MerchantReceiver> r) { receiver = std::move(r); };
  Result<ScenarioReport> report = RunScenario(options);
  ExpectCorrect(report);
  EXPECT_EQ(report->server_kills, 1);
  EXPECT_EQ(report->notifications_missing, 0);  // every final order acknowledged
  EXPECT_EQ(report->notification_bad_signatures, 0);
  EXPECT_GT(report->receiver_hung, 0);

  // A request the receiver got whose try the store never recorded was sent by the killed node
  // (every live node records every try it makes): such rows exist, and each was delivered by a
  // node still alive.
  ASSERT_NE(receiver, nullptr);
  Result<std::unique_ptr<Store>> store = OpenStore(store_url_);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  // No try of the dead node was answered, and a live node's lease outlasts its try, so no row
  // was sent by two live nodes: no notification has two tries recorded as answered 2xx. (The
  // receiver may still have acknowledged one twice: a try whose answer came after its timeout is
  // recorded as a timeout and sent again, which at-least-once delivery allows.)
  int taken_over = 0;
  for (const auto& [notification_id, requests] : receiver->Snapshot().requests_by_notification_id) {
    Result<std::vector<NotificationTry>> tries = (*store)->ListNotificationTries(notification_id);
    ASSERT_TRUE(tries.ok()) << tries.status().ToString();
    EXPECT_LE(std::count_if(tries->begin(), tries->end(),
                            [](const NotificationTry& t) {
                              return t.http_status >= 200 && t.http_status < 300;
                            }),
              1)
        << notification_id;
    if (static_cast<int64_t>(tries->size()) >= requests) continue;
    ++taken_over;
    Result<Notification> notification = (*store)->GetNotification(notification_id);
    ASSERT_TRUE(notification.ok());
    EXPECT_EQ(notification->state, NotificationState::kDelivered) << notification_id;
  }
  EXPECT_GT(taken_over, 0) << "no delivery was in flight on the killed node";
}

TEST_F(MultiNodeTest, RedisRestartedMidLoad) {
  auto redis = testing::RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status().ToString();
  ScenarioOptions options = Options((*redis)->url());
  testing::RedisServer* server = redis->get();
  options.fault = [server] { return server->Restart(); };
  Result<ScenarioReport> report = RunScenario(options);
  ExpectCorrect(report);
}

TEST_F(MultiNodeTest, RabbitMqRestartedMidLoad) {
  auto rabbit = testing::RabbitMqServer::Start();
  ASSERT_TRUE(rabbit.ok()) << rabbit.status().ToString();
  ScenarioOptions options = Options((*rabbit)->url());
  testing::RabbitMqServer* server = rabbit->get();
  options.fault = [server] { return server->Restart(); };
  Result<ScenarioReport> report = RunScenario(options);
  ExpectCorrect(report);
}

}  // namespace
}  // namespace topup::loadgen
