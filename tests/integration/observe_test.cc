// Operating topup serve from outside: /metrics read by promtool and by a private Prometheus
// server during a load, and /readyz following the store and the queue as they stop and return.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "auth/merchant_keys.h"
#include "auth/request_signature.h"
#include "auth/secret_box.h"
#include "backends/backends.h"
#include "core/validation.h"
#include "http/http_client.h"
#include "loadgen/merchant_load.h"
#include "loadgen/merchant_receiver.h"
#include "process/child_process.h"
#include "testing/postgres_server.h"
#include "testing/rabbitmq_server.h"
#include "testing/redis_server.h"
#include "testing/server_support.h"
#include "topup/clock.h"

namespace topup {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kMerchantId[] = "observed";

// Waits (bounded) until `done` holds; `done` is tried every 200 ms.
template <typename Done>
bool WaitFor(seconds bound, Done done) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(200));
  }
  return true;
}

Result<http::HttpResponse> Get(uint16_t port, const std::string& target) {
  http::HttpClient client("127.0.0.1", port);
  return client.Send("GET", target, "", seconds(5));
}

// `count` orders of 50 yuan for one phone, merchant order ids `prefix`0, `prefix`1, ...
std::vector<std::string> OrderBodies(const std::string& prefix, int count,
                                     const std::string& notify_url = "") {
  std::vector<std::string> bodies;
  for (int i = 0; i < count; ++i) {
    json::object body{{"merchant_id", kMerchantId},
                      {"merchant_order_id", prefix + std::to_string(i)},
                      {"phone", "13800138000"},
                      {"face_value", 50}};
    if (!notify_url.empty()) body["notify_url"] = notify_url;
    bodies.push_back(json::serialize(body));
  }
  return bodies;
}

// A load of 4 lanes over `ports`, signed with `key`, starting now and bounded to 60 s.
loadgen::MerchantLoadOptions LoadOptions(std::vector<uint16_t> ports, double rate_limit_per_s,
                                         const auth::NewMerchantKey& key) {
  const auto start = std::chrono::steady_clock::now();
  return loadgen::MerchantLoadOptions{.ports = std::move(ports),
                                      .lanes = 4,
                                      .rate_limit_per_s = rate_limit_per_s,
                                      .start = start,
                                      .deadline = start + seconds(60),
                                      .key_id = key.key_id,
                                      .secret = key.secret};
}

class ObserveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::string> dir = testing::MakeTempDir("topup-observe-");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    dir_ = *dir;
    log_path_ = dir_ + "/children.log";
    master_key_hex_ = auth::RandomHex(auth::SecretBox::kKeyBytes);
    std::ofstream(dir_ + "/master.key") << master_key_hex_;
  }

  // Creates the merchant with `balance_fen` and an API key for it in the store at `store_url`.
  auth::NewMerchantKey AddMerchant(const std::string& store_url, int64_t balance_fen) {
    Result<std::unique_ptr<Store>> store = OpenStore(store_url);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    if (!store.ok()) return {};
    const int64_t now_ms = SystemClock()->NowMs();
    EXPECT_TRUE((*store)->CreateMerchant(kMerchantId, "observed", now_ms).ok());
    EXPECT_TRUE((*store)->FundMerchant(kMerchantId, balance_fen, "test", now_ms).ok());
    Result<auth::SecretBox> box = auth::SecretBox::FromHex(master_key_hex_);
    EXPECT_TRUE(box.ok());
    Result<auth::NewMerchantKey> key = auth::CreateMerchantKey(**store, *box, kMerchantId, now_ms);
    EXPECT_TRUE(key.ok()) << key.status().ToString();
    return key.ok() ? *key : auth::NewMerchantKey{};
  }
  void TearDown() override {
    for (process::ChildProcess& child : children_) child.Stop(SIGTERM);
    if (!HasFailure()) std::filesystem::remove_all(dir_);  // kept for inspection otherwise
  }

  // Starts a child that prints "listening on HOST:PORT"; returns its port. Its stderr goes to
  // `log_path`, or to log_path_ when empty.
  uint16_t StartListening(const std::vector<std::string>& argv, std::string log_path = "") {
    if (log_path.empty()) log_path = log_path_;
    Result<process::ChildProcess> child = process::ChildProcess::Spawn(argv, log_path);
    EXPECT_TRUE(child.ok()) << child.status().ToString();
    if (!child.ok()) return 0;
    Result<uint16_t> port = child->WaitForListening(seconds(30));
    EXPECT_TRUE(port.ok()) << port.status().ToString() << "\n" << testing::LastLines(log_path, 20);
    children_.push_back(std::move(*child));
    return port.ok() ? *port : 0;
  }

  uint16_t StartSim(const std::vector<std::string>& flags) {
    std::vector<std::string> argv = {TOPUP_BINARY, "sim", "--port", "0"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return StartListening(argv);
  }

  uint16_t StartServe(const std::string& store_url, const std::string& queue_url, uint16_t sim_port,
                      const std::vector<std::string>& flags = {},
                      const std::string& log_path = "") {
    std::vector<std::string> argv = {TOPUP_BINARY,
                                     "serve",
                                     "--store",
                                     store_url,
                                     "--port",
                                     "0",
                                     "--supplier-url",
                                     "http://127.0.0.1:" + std::to_string(sim_port),
                                     "--attempt-timeout-ms",
                                     "1500",
                                     "--not-found-grace-ms",
                                     "3000",
                                     "--master-key-file",
                                     dir_ + "/master.key"};
    if (!queue_url.empty()) argv.insert(argv.end(), {"--queue", queue_url});
    argv.insert(argv.end(), flags.begin(), flags.end());
    return StartListening(argv, log_path);
  }

  std::string dir_;
  std::string log_path_;
  std::string master_key_hex_;
  std::vector<process::ChildProcess> children_;
};

// The value of the first sample of a Prometheus instant query, or -1.
double QueryPrometheus(uint16_t port, const std::string& expression) {
  std::string target = "/api/v1/query?query=";
  for (char c : expression) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      target.push_back(c);
    } else {
      char escaped[4];
      std::snprintf(escaped, sizeof escaped, "%%%02X", static_cast<unsigned char>(c));
      target.append(escaped);
    }
  }
  Result<http::HttpResponse> answer = Get(port, target);
  if (!answer.ok() || answer->status != 200) return -1;
  boost::system::error_code ec;
  json::value parsed = json::parse(answer->body, ec);
  if (ec || !parsed.is_object()) return -1;
  const json::value* result = parsed.as_object().if_contains("data");
  if (result == nullptr) return -1;
  const json::array& samples = result->as_object().at("result").as_array();
  if (samples.empty()) return -1;
  return std::stod(std::string(samples[0].as_object().at("value").as_array()[1].as_string()));
}

TEST_F(ObserveTest, PrometheusScrapesCountersThatMatchTheStore) {
  const std::string promtool = testing::FindExecutable("promtool");
  const std::string prometheus = testing::FindExecutable("prometheus");
  ASSERT_FALSE(promtool.empty() || prometheus.empty())
      << "promtool and prometheus not found: apt-get install prometheus";
  const std::string db = dir_ + "/topup.db";
  constexpr int kOrders = 600;
  const auth::NewMerchantKey key = AddMerchant(db, kOrders * PriceFenOfFaceValue(50));
  ASSERT_FALSE(key.key_id.empty());
  const uint16_t sim_port =
      StartSim({"--latency-median-ms", "5", "--latency-p99-ms", "50", "--fail-rate", "0.1"});
  // One attempt per order, so that the simulator's failures end orders failed and refunded.
  const uint16_t port =
      StartServe(db, "", sim_port, {"--max-attempts", "1", "--notify-allow-private"});
  ASSERT_NE(port, 0);

  Result<uint16_t> prometheus_port = process::PickFreePort();
  ASSERT_TRUE(prometheus_port.ok());
  {
    std::ofstream config(dir_ + "/prometheus.yml");
    config << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
           << "scrape_configs:\n  - job_name: topup\n    static_configs:\n"
           << "      - targets: ['127.0.0.1:" << port << "']\n";
  }
  Result<process::ChildProcess> server = process::ChildProcess::Spawn(
      {prometheus, "--config.file=" + dir_ + "/prometheus.yml",
       "--storage.tsdb.path=" + dir_ + "/prometheus-data",
       "--web.listen-address=127.0.0.1:" + std::to_string(*prometheus_port), "--log.level=warn"},
      log_path_);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  children_.push_back(std::move(*server));
  ASSERT_TRUE(process::WaitForTcpPort(*prometheus_port, milliseconds(30'000)).ok())
      << testing::LastLines(log_path_, 20);

  // Every order notifies a receiver that fails for the first 1.5 s of the load, so some tries fail
  // and are tried again 15 s later.
  Result<std::unique_ptr<loadgen::MerchantReceiver>> receiver = loadgen::MerchantReceiver::Start(
      {.key_id = key.key_id,
       .secret = key.secret,
       .faults = {{.kind = loadgen::ReceiverFault::Kind::kFail, .from_ms = 0, .until_ms = 1'500}}});
  ASSERT_TRUE(receiver.ok()) << receiver.status().ToString();
  const std::vector<std::string> bodies =  // the load reads them
      OrderBodies("m-", kOrders, (*receiver)->url());
  loadgen::MerchantLoad load(LoadOptions({port}, 150, key), bodies);
  loadgen::LoadTally tally;
  std::thread load_thread([&] { tally = load.Run(); });

  // Mid-load, the exposition is valid for promtool (which also lints names, units and help).
  ASSERT_TRUE(WaitFor(seconds(30), [&] { return load.acknowledged() >= kOrders / 3; }));
  Result<http::HttpResponse> scraped = Get(port, "/metrics");
  ASSERT_TRUE(scraped.ok()) << scraped.status().ToString();
  EXPECT_EQ(scraped->status, 200);
  EXPECT_EQ(scraped->content_type.rfind("text/plain; version=0.0.4", 0), 0u)
      << scraped->content_type;
  { std::ofstream(dir_ + "/metrics.txt") << scraped->body; }
  const std::string check =
      promtool + " check metrics < " + dir_ + "/metrics.txt > " + dir_ + "/promtool.txt 2>&1";
  EXPECT_EQ(std::system(check.c_str()), 0) << testing::LastLines(dir_ + "/promtool.txt", 40);
  load_thread.join();
  ASSERT_EQ(static_cast<int>(tally.order_ids.size()), kOrders);

  Result<std::unique_ptr<Store>> store = OpenStore(db);
  ASSERT_TRUE(store.ok());
  OrderCounts counts;
  ASSERT_TRUE(WaitFor(seconds(120), [&] {
    Result<OrderCounts> now = (*store)->CountOrders();
    if (!now.ok()) return false;
    counts = *now;
    return counts[OrderStatus::kSuccess] + counts[OrderStatus::kFailed] == kOrders;
  }));
  ASSERT_GT(counts[OrderStatus::kFailed], 0);  // the simulator's failures really happened

  // What Prometheus stored from its scrapes matches the store once it has scraped the end.
  auto matches = [&] {
    return QueryPrometheus(*prometheus_port, "topup_orders_accepted_total{outcome=\"created\"}") ==
               kOrders &&
           QueryPrometheus(*prometheus_port,
                           "sum(topup_orders_finished_total{outcome=\"success\"})") ==
               static_cast<double>(counts[OrderStatus::kSuccess]) &&
           QueryPrometheus(*prometheus_port,
                           "sum(topup_orders_finished_total{outcome=\"failed\"})") ==
               static_cast<double>(counts[OrderStatus::kFailed]);
  };
  EXPECT_TRUE(WaitFor(seconds(30), matches))
      << "accepted "
      << QueryPrometheus(*prometheus_port, "topup_orders_accepted_total{outcome=\"created\"}")
      << " success "
      << QueryPrometheus(*prometheus_port, "sum(topup_orders_finished_total{outcome=\"success\"})")
      << " failed "
      << QueryPrometheus(*prometheus_port, "sum(topup_orders_finished_total{outcome=\"failed\"})")
      << " store " << counts[OrderStatus::kSuccess] << "/" << counts[OrderStatus::kFailed];
  // The money figures agree with the ledger's own audit.
  Result<LedgerAudit> audit = (*store)->AuditLedger();
  ASSERT_TRUE(audit.ok());
  EXPECT_EQ(QueryPrometheus(*prometheus_port, "topup_ledger_fen_total{kind=\"debited\"}"),
            static_cast<double>(audit->debited_fen));
  EXPECT_EQ(QueryPrometheus(*prometheus_port, "topup_ledger_fen_total{kind=\"refunded\"}"),
            static_cast<double>(audit->refunded_fen));
  EXPECT_TRUE(WaitFor(seconds(30), [&] {
    return QueryPrometheus(*prometheus_port, "sum(topup_orders_open)") == 0 &&
           QueryPrometheus(*prometheus_port, "topup_ledger_held_fen") == 0;
  }));
  EXPECT_GT(QueryPrometheus(*prometheus_port,
                            "sum(topup_http_requests_total{route=\"/v1/orders\",code=\"201\"})"),
            0);
  EXPECT_GT(QueryPrometheus(*prometheus_port, "topup_store_commit_writes_count"), 0);
  EXPECT_GT(QueryPrometheus(*prometheus_port, "process_resident_memory_bytes"), 0);

  // Notifications: every order's acknowledged in the end (the failed ones on their second try),
  // and the figures say so: tries by outcome, the delivery latency, and no backlog left.
  ASSERT_TRUE(WaitFor(seconds(60), [&] { return (*receiver)->acknowledged_distinct() == kOrders; }))
      << (*receiver)->acknowledged_distinct();
  const loadgen::ReceivedNotifications received = (*receiver)->Snapshot();
  ASSERT_GT(received.failed_on_purpose, 0);
  EXPECT_EQ(received.bad_signatures, 0);
  EXPECT_TRUE(WaitFor(
      seconds(30),
      [&] {
        return QueryPrometheus(*prometheus_port,
                               "topup_notification_tries_total{outcome=\"acknowledged\"}") ==
                   static_cast<double>(received.acknowledged) &&
               QueryPrometheus(*prometheus_port, "topup_notifications_pending") == 0;
      }))
      << QueryPrometheus(*prometheus_port,
                         "topup_notification_tries_total{outcome=\"acknowledged\"}")
      << " pending " << QueryPrometheus(*prometheus_port, "topup_notifications_pending");
  EXPECT_EQ(QueryPrometheus(*prometheus_port, "topup_notification_tries_total{outcome=\"failed\"}"),
            static_cast<double>(received.failed_on_purpose));
  EXPECT_EQ(QueryPrometheus(*prometheus_port, "topup_notification_delivery_seconds_count"),
            static_cast<double>(received.acknowledged));
  // The failed ones waited for their second try, 15 s after finality.
  EXPECT_GT(QueryPrometheus(*prometheus_port, "topup_notification_delivery_seconds_sum"), 15.0);
  EXPECT_EQ(QueryPrometheus(*prometheus_port, "topup_oldest_pending_notification_age_seconds"), 0);
  EXPECT_EQ(QueryPrometheus(*prometheus_port, "topup_notifications_given_up_total"), 0);
}

// The value of the sample `series` (a name, with its labels if it has any) in an exposition, or
// -1 if it is not there.
double MetricValue(const std::string& exposition, const std::string& series) {
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return -1;
}

// Two nodes on PostgreSQL and RabbitMQ, one SIGKILLed mid-load: the survivor's /metrics shows
// the broker's depth and redeliveries, PostgreSQL's commit batches, and the dead node's leases
// lapsing as expiry events; promtool accepts it all.
TEST_F(ObserveTest, QueueDepthRedeliveriesCommitsAndLeaseExpiriesOnPostgresAndRabbitMq) {
  const std::string promtool = testing::FindExecutable("promtool");
  ASSERT_FALSE(promtool.empty()) << "promtool not found: apt-get install prometheus";
  Result<std::unique_ptr<testing::PostgresServer>> postgres = testing::PostgresServer::Start();
  ASSERT_TRUE(postgres.ok()) << postgres.status().ToString();
  Result<std::string> database = (*postgres)->CreateDatabase("figures");
  ASSERT_TRUE(database.ok()) << database.status().ToString();
  Result<std::unique_ptr<testing::RabbitMqServer>> rabbit = testing::RabbitMqServer::Start();
  ASSERT_TRUE(rabbit.ok()) << rabbit.status().ToString();
  constexpr int kOrders = 300;
  const auth::NewMerchantKey key = AddMerchant(*database, kOrders * PriceFenOfFaceValue(50));
  ASSERT_FALSE(key.key_id.empty());
  // Slow enough answers that the node killed holds leases and unacknowledged deliveries.
  const uint16_t sim_port = StartSim({"--latency-median-ms", "300", "--latency-p99-ms", "800"});
  // Every order through the broker (not handed to the accepting node's own engine), so that the
  // doomed node dies holding the broker's deliveries.
  const std::vector<std::string> flags = {"--lease-ms", "2000", "--no-local-handoff"};
  const uint16_t doomed = StartServe(*database, (*rabbit)->url(), sim_port, flags);
  const size_t doomed_child = children_.size() - 1;
  const uint16_t survivor = StartServe(*database, (*rabbit)->url(), sim_port, flags);
  ASSERT_NE(doomed, 0);
  ASSERT_NE(survivor, 0);

  const std::vector<std::string> bodies = OrderBodies("f-", kOrders);  // the load reads them
  loadgen::MerchantLoad load(LoadOptions({doomed, survivor}, 100, key), bodies);
  loadgen::LoadTally tally;
  std::thread load_thread([&] { tally = load.Run(); });
  ASSERT_TRUE(WaitFor(seconds(30), [&] { return load.acknowledged() >= kOrders / 3; }));
  children_[doomed_child].Stop(SIGKILL);
  load_thread.join();

  Result<std::unique_ptr<Store>> store = OpenStore(*database);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE(WaitFor(seconds(120), [&] {
    Result<OrderCounts> counts = (*store)->CountOrders();
    if (!counts.ok()) return false;
    int64_t open = 0;
    for (auto [status, n] : *counts) open += IsFinal(status) ? 0 : n;
    return open == 0;
  }));

  std::string exposition;
  ASSERT_TRUE(WaitFor(seconds(10), [&] {
    Result<http::HttpResponse> scraped = Get(survivor, "/metrics");
    if (!scraped.ok() || scraped->status != 200) return false;
    exposition = scraped->body;
    return MetricValue(exposition, "topup_queue_depth") == 0;  // the broker's count catches up
  })) << exposition;
  { std::ofstream(dir_ + "/metrics.txt") << exposition; }
  const std::string check =
      promtool + " check metrics < " + dir_ + "/metrics.txt > " + dir_ + "/promtool.txt 2>&1";
  EXPECT_EQ(std::system(check.c_str()), 0) << testing::LastLines(dir_ + "/promtool.txt", 40);
  // The dead node's deliveries came again from the broker; its leases lapsed.
  EXPECT_GT(MetricValue(exposition, "topup_queue_redelivered_total"), 0) << exposition;
  EXPECT_GT(MetricValue(exposition, "topup_lease_expiries_total"), 0) << exposition;
  EXPECT_GT(MetricValue(exposition, "topup_store_commit_writes_count"), 0) << exposition;
  EXPECT_GT(MetricValue(exposition, "topup_store_commit_seconds_sum"), 0) << exposition;
}

// The reasons /readyz gives, or {"unreachable"} if it does not answer; empty when ready.
std::vector<std::string> NotReadyReasons(uint16_t port) {
  Result<http::HttpResponse> answer = Get(port, "/readyz");
  if (!answer.ok()) return {"unreachable"};
  if (answer->status == 200) return {};
  std::vector<std::string> reasons;
  boost::system::error_code ec;
  json::value parsed = json::parse(answer->body, ec);
  if (ec || answer->status != 503) return {"unexpected answer " + answer->body};
  for (const json::value& reason : parsed.as_object().at("reasons").as_array()) {
    reasons.emplace_back(reason.as_string());
  }
  return reasons;
}

bool AnyStartsWith(const std::vector<std::string>& reasons, const std::string& prefix) {
  for (const std::string& reason : reasons) {
    if (reason.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

TEST_F(ObserveTest, ReadyzFollowsPostgresAndRedisAsTheyStopAndReturn) {
  Result<std::unique_ptr<testing::PostgresServer>> postgres = testing::PostgresServer::Start();
  ASSERT_TRUE(postgres.ok()) << postgres.status().ToString();
  Result<std::string> database = (*postgres)->CreateDatabase("observe");
  ASSERT_TRUE(database.ok()) << database.status().ToString();
  Result<std::unique_ptr<testing::RedisServer>> redis = testing::RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status().ToString();
  const uint16_t sim_port = StartSim({});
  const uint16_t port = StartServe(*database, (*redis)->url(), sim_port);
  ASSERT_NE(port, 0);

  std::vector<std::string> reasons;
  auto ready = [&] { return (reasons = NotReadyReasons(port)).empty(); };
  auto not_ready_because = [&](const std::string& prefix) {
    return [&, prefix] { return AnyStartsWith(reasons = NotReadyReasons(port), prefix); };
  };
  ASSERT_TRUE(WaitFor(seconds(30), ready)) << reasons[0];
  Result<http::HttpResponse> alive = Get(port, "/healthz");
  ASSERT_TRUE(alive.ok());
  EXPECT_EQ(alive->status, 200);
  // Redis's depth is on /metrics too: nothing waits in the stream.
  Result<http::HttpResponse> scraped = Get(port, "/metrics");
  ASSERT_TRUE(scraped.ok());
  EXPECT_EQ(MetricValue(scraped->body, "topup_queue_depth"), 0) << scraped->body;

  (*redis)->Stop();
  EXPECT_TRUE(WaitFor(seconds(30), not_ready_because("queue: ")))
      << (reasons.empty() ? "ready" : reasons[0]);
  EXPECT_EQ(Get(port, "/healthz")->status, 200);  // alive all the same
  ASSERT_TRUE((*redis)->Restart().ok());
  EXPECT_TRUE(WaitFor(seconds(60), ready)) << reasons[0];

  (*postgres)->Stop();
  EXPECT_TRUE(WaitFor(seconds(30), not_ready_because("store: ")))
      << (reasons.empty() ? "ready" : reasons[0]);
  ASSERT_TRUE((*postgres)->Restart().ok());
  EXPECT_TRUE(WaitFor(seconds(60), ready)) << reasons[0];
}

TEST_F(ObserveTest, JsonLogsOfARunHoldNoSecretNoTokenAndNoPhoneNumber) {
  constexpr char kDbPassword[] = "db-password-5e1b";
  constexpr char kAdminToken[] = "admin-token-7f3a9c";
  constexpr char kGuessedToken[] = "guessed-token-c0ffee";
  constexpr char kPhone[] = "13912345678";
  constexpr int kOrders = 20;
  Result<std::unique_ptr<testing::PostgresServer>> postgres = testing::PostgresServer::Start();
  ASSERT_TRUE(postgres.ok()) << postgres.status().ToString();
  Result<std::string> database = (*postgres)->CreateDatabase("logs");
  ASSERT_TRUE(database.ok()) << database.status().ToString();
  // The private server trusts local connections, so the password is sent and never checked.
  std::string store_url = *database;
  store_url.insert(store_url.find('@'), std::string(":") + kDbPassword);
  const auth::NewMerchantKey key = AddMerchant(store_url, 1'000'000);
  ASSERT_FALSE(key.key_id.empty());
  // Signed as a merchant signs: the secret and the signatures must not reach the log either.
  auto signed_headers = [&](const std::string& target, const std::string& body) {
    return auth::SignatureHeaders(key.key_id, key.secret, "POST", target, body,
                                  SystemClock()->NowMs() / 1000, auth::NewNonce());
  };
  const uint16_t sim_port = StartSim({"--fail-rate", "0.2"});
  const std::string serve_log = dir_ + "/serve.log";
  const uint16_t port = StartServe(store_url, "", sim_port,
                                   {"--admin-token", kAdminToken, "--log-format", "json",
                                    "--log-level", "debug", "--max-attempts", "1"},
                                   serve_log);
  ASSERT_NE(port, 0);
  const pid_t serve_pid = children_.back().pid();

  http::HttpClient client("127.0.0.1", port);
  std::vector<std::string> signatures;
  for (int i = 0; i < kOrders; ++i) {
    const std::string body =
        json::serialize(json::object{{"merchant_id", kMerchantId},
                                     {"merchant_order_id", "log-" + std::to_string(i)},
                                     {"phone", kPhone},
                                     {"face_value", 30}});
    auto headers = signed_headers("/v1/orders", body);
    for (const auto& [name, value] : headers) {
      if (name == auth::kSignatureHeader) signatures.push_back(value);
    }
    Result<http::HttpResponse> placed =
        client.Send("POST", "/v1/orders", body, seconds(5), headers);
    ASSERT_TRUE(placed.ok() && placed->status == 201) << (placed.ok() ? placed->body : "");
  }
  // A bad phone number, a bad signature, a wrong token and the right one.
  const std::string bad_phone =
      R"({"merchant_id":"observed","merchant_order_id":"bad","phone":"1391234567",)"
      R"("face_value":30})";
  ASSERT_TRUE(client
                  .Send("POST", "/v1/orders", bad_phone, seconds(5),
                        signed_headers("/v1/orders", bad_phone))
                  .ok());
  auto forged = signed_headers("/v1/orders", bad_phone);
  for (auto& [name, value] : forged) {
    if (name == auth::kSignatureHeader) value = std::string(64, 'f');
  }
  Result<http::HttpResponse> unsigned_answer =
      client.Send("POST", "/v1/orders", bad_phone, seconds(5), forged);
  ASSERT_TRUE(unsigned_answer.ok());
  EXPECT_EQ(unsigned_answer->status, 401);
  Result<http::HttpResponse> refused =
      client.Send("GET", std::string("/v1/admin/merchants/") + kMerchantId, "", seconds(5),
                  {{"Authorization", std::string("Bearer ") + kGuessedToken}});
  ASSERT_TRUE(refused.ok());
  EXPECT_NE(refused->status, 200);
  Result<http::HttpResponse> admin =
      client.Send("GET", std::string("/v1/admin/merchants/") + kMerchantId, "", seconds(5),
                  {{"Authorization", std::string("Bearer ") + kAdminToken}});
  ASSERT_TRUE(admin.ok());
  EXPECT_EQ(admin->status, 200);

  Result<std::unique_ptr<Store>> store = OpenStore(store_url);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE(WaitFor(seconds(60), [&] {
    Result<OrderCounts> counts = (*store)->CountOrders();
    return counts.ok() &&
           (*counts)[OrderStatus::kSuccess] + (*counts)[OrderStatus::kFailed] == kOrders;
  }));

  // SIGUSR1 moves the level on (debug -> trace), and says so.
  auto log_text = [&] {
    std::ifstream file(serve_log);
    return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  };
  ASSERT_EQ(kill(serve_pid, SIGUSR1), 0);
  EXPECT_TRUE(WaitFor(seconds(10), [&] {
    return log_text().find("log level now trace") != std::string::npos;
  })) << log_text();
  for (process::ChildProcess& child : children_) {
    if (child.pid() == serve_pid) {
      EXPECT_EQ(child.Stop(SIGTERM), 0);
    }
  }

  const std::string text = log_text();
  std::vector<std::string> secrets = {kDbPassword, kAdminToken,     kGuessedToken,       kPhone,
                                      key.secret,  master_key_hex_, std::string(64, 'f')};
  secrets.insert(secrets.end(), signatures.begin(), signatures.end());
  for (const std::string& secret : secrets) {
    EXPECT_EQ(text.find(secret), std::string::npos) << secret << " is in the log:\n" << text;
  }
  EXPECT_NE(text.find(":***@"), std::string::npos) << "the store URL, redacted\n" << text;
  std::istringstream lines(text);
  int parsed_lines = 0;
  for (std::string line; std::getline(lines, line);) {
    boost::system::error_code ec;
    json::value parsed = json::parse(line, ec);
    ASSERT_FALSE(ec) << "not JSON: " << line;
    for (const char* key : {"time", "level", "thread", "message"}) {
      EXPECT_TRUE(parsed.as_object().contains(key)) << key << " missing: " << line;
    }
    ++parsed_lines;
  }
  EXPECT_GE(parsed_lines, 3);
}

}  // namespace
}  // namespace topup
