// Several `topup serve` nodes on one machine sharing a private PostgreSQL and a private Redis or
// RabbitMQ, with nodes killed and brokers restarted mid-load.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

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
