// Several simulated channels on one port: routing by path prefix, outage windows, and async mode
// with signed callbacks delivered to a small HTTP server standing in for the service.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/hmac.h"
#include "http/http_client.h"
#include "http/http_server.h"
#include "sim/supplier_sim.h"
#include "topup/clock.h"

namespace topup::sim {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

constexpr auto kTimeout = 5s;
constexpr auto kWaitBound = 10s;

std::unique_ptr<SupplierSim> StartSim(const SimOptions& options) {
  Result<std::unique_ptr<SupplierSim>> sim = SupplierSim::Start(options);
  EXPECT_TRUE(sim.ok()) << sim.status().ToString();
  return sim.ok() ? std::move(sim).value() : nullptr;
}

ChannelSimOptions Channel(const std::string& name) {
  ChannelSimOptions channel;
  channel.name = name;
  return channel;
}

std::string RechargeBody(const std::string& supplier_order_id) {
  return json::serialize(json::object{
      {"supplier_order_id", supplier_order_id}, {"phone", "13800138000"}, {"face_value", 50}});
}

// The exchange's HTTP status and parsed JSON body; status 0 when the exchange failed.
struct Answer {
  int status = 0;
  json::object body;
  std::string Status() const {
    const json::value* status_value = body.if_contains("status");
    return status_value != nullptr && status_value->is_string()
               ? std::string(status_value->get_string())
               : "";
  }
};

Answer Call(http::HttpClient& client, const std::string& method, const std::string& target,
            const std::string& body = "") {
  Answer answer;
  Result<http::HttpResponse> response = client.Send(method, target, body, kTimeout);
  if (!response.ok()) return answer;
  answer.status = response->status;
  boost::system::error_code ec;
  json::value value = json::parse(response->body, ec);
  if (!ec && value.is_object()) answer.body = value.as_object();
  return answer;
}

Answer Recharge(http::HttpClient& client, const std::string& channel, const std::string& id) {
  return Call(client, "POST", "/" + channel + "/recharge", RechargeBody(id));
}

Answer Query(http::HttpClient& client, const std::string& channel, const std::string& id) {
  return Call(client, "GET", "/" + channel + "/query?supplier_order_id=" + id);
}

// Waits until `condition` holds, polling, for at most `bound`. Returns whether it held.
template <typename Condition>
bool WaitUntil(Condition condition, std::chrono::milliseconds bound = kWaitBound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// Stands in for the service's callback endpoint: records every request and answers with the
// scripted statuses in order, then 200. The first `hold_first` requests are held unanswered
// until Release().
class CallbackRecorder {
 public:
  struct Received {
    std::string path;
    std::string body;
    std::string signature;
  };

  explicit CallbackRecorder(std::deque<int> statuses = {}, size_t hold_first = 0)
      : statuses_(std::move(statuses)), hold_first_(hold_first) {
    Result<std::unique_ptr<http::HttpServer>> server = http::HttpServer::Listen(
        http::HttpServerOptions{}, [this](http::HttpRequest request, http::Responder respond) {
          std::lock_guard lock(mu_);
          received_.push_back(
              Received{request.path, request.body, std::string(request.Header("x-signature"))});
          cv_.notify_all();
          if (received_.size() <= hold_first_) {
            held_.push_back(std::move(respond));
            return;
          }
          http::HttpResponse response;
          response.status = 200;
          if (!statuses_.empty()) {
            response.status = statuses_.front();
            statuses_.pop_front();
          }
          response.body = R"({"result":"recorded"})";
          respond(std::move(response));
        });
    EXPECT_TRUE(server.ok()) << server.status().ToString();
    if (server.ok()) {
      server_ = std::move(server).value();
      server_->Start();
    }
  }

  ~CallbackRecorder() { Stop(); }

  void Stop() {
    if (server_ != nullptr) server_->Stop();
  }

  uint16_t port() const { return server_->port(); }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port()) + path;
  }

  // Waits until at least n requests arrived, for a bounded time.
  bool WaitFor(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kWaitBound, [&] { return received_.size() >= n; });
  }

  std::vector<Received> received() {
    std::lock_guard lock(mu_);
    return received_;
  }

  // Answers the held requests with 200.
  void Release() {
    std::vector<http::Responder> held;
    {
      std::lock_guard lock(mu_);
      held.swap(held_);
    }
    for (const http::Responder& respond : held) {
      http::HttpResponse response;
      response.body = "{}";
      respond(std::move(response));
    }
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<int> statuses_;  // GUARDED_BY(mu_)
  const size_t hold_first_;
  std::vector<Received> received_;     // GUARDED_BY(mu_)
  std::vector<http::Responder> held_;  // GUARDED_BY(mu_)
  std::unique_ptr<http::HttpServer> server_;
};

AsyncCallbackOptions Async(const std::string& callback_url, const std::string& secret = "s3cret") {
  AsyncCallbackOptions async;
  async.callback_url = callback_url;
  async.callback_secret = secret;
  return async;
}

json::object ParseObject(const std::string& text) {
  boost::system::error_code ec;
  json::value value = json::parse(text, ec);
  EXPECT_FALSE(ec) << text;
  return !ec && value.is_object() ? value.as_object() : json::object();
}

TEST(MultiChannelSimTest, PathsRouteToTheirChannelAndCreditsNameIt) {
  SimOptions options;
  options.channels = {Channel("alpha"), Channel("beta")};
  options.channels[1].fail_rate = 1.0;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(Recharge(client, "alpha", "a" + std::to_string(i) + "-1").Status(), "success");
    EXPECT_EQ(Recharge(client, "beta", "b" + std::to_string(i) + "-1").Status(), "failed");
  }
  // One supplier_order_id names an attempt per channel: the channels know nothing of each other.
  const Answer alpha = Recharge(client, "alpha", "same-1");
  EXPECT_EQ(alpha.Status(), "success");
  EXPECT_EQ(std::string(alpha.body.at("supplier_ref").as_string()).rfind("sim-alpha-", 0), 0u);
  EXPECT_EQ(Recharge(client, "beta", "same-1").Status(), "failed");
  EXPECT_EQ(Query(client, "alpha", "same-1").Status(), "success");
  EXPECT_EQ(Query(client, "beta", "same-1").Status(), "failed");
  EXPECT_EQ(Query(client, "alpha", "b0-1").Status(), "not_found");

  const std::vector<SimCredit> credits = sim->Credits();
  ASSERT_EQ(credits.size(), 11u);
  for (const SimCredit& credit : credits) EXPECT_EQ(credit.channel, "alpha");
  const Answer listed = Call(client, "GET", "/credits");
  ASSERT_EQ(listed.status, 200);
  const json::array& entries = listed.body.at("credits").as_array();
  ASSERT_EQ(entries.size(), 11u);
  for (const json::value& entry : entries) {
    EXPECT_EQ(entry.as_object().at("channel").as_string(), "alpha");
  }

  const Answer alpha_stats = Call(client, "GET", "/alpha/stats");
  ASSERT_EQ(alpha_stats.status, 200);
  EXPECT_EQ(alpha_stats.body.at("received").as_int64(), 11);
  EXPECT_EQ(alpha_stats.body.at("credited").as_int64(), 11);
  EXPECT_EQ(alpha_stats.body.at("failed").as_int64(), 0);
  EXPECT_EQ(alpha_stats.body.at("queries").as_int64(), 2);
  const Answer beta_stats = Call(client, "GET", "/beta/stats");
  EXPECT_EQ(beta_stats.body.at("failed").as_int64(), 11);
  EXPECT_EQ(beta_stats.body.at("credited").as_int64(), 0);
  Result<SimStats> beta = sim->ChannelStats("beta");
  ASSERT_TRUE(beta.ok());
  EXPECT_EQ(beta->received, 11);
  EXPECT_EQ(sim->ChannelStats("gamma").status().reason(), "unknown_channel");
  EXPECT_EQ(sim->Stats().received, 22);
  EXPECT_EQ(Call(client, "GET", "/stats").body.at("received").as_int64(), 22);

  EXPECT_EQ(Call(client, "POST", "/recharge", RechargeBody("root-1")).status, 404);
  EXPECT_EQ(Call(client, "POST", "/gamma/recharge", RechargeBody("g-1")).status, 404);
  EXPECT_EQ(Call(client, "GET", "/alpha/nothing").status, 404);
  EXPECT_EQ(Call(client, "GET", "/alpha/recharge").status, 405);
  EXPECT_EQ(Call(client, "POST", "/alpha/query").status, 405);
  EXPECT_EQ(sim->Credits().size(), 11u);
}

TEST(MultiChannelSimTest, CreditsFileLinesNameTheChannel) {
  const std::string path = ::testing::TempDir() + "multi_sim_credits_test.jsonl";
  std::remove(path.c_str());
  SimOptions options;
  options.channels = {Channel("alpha"), Channel("beta")};
  options.credits_file = path;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  Recharge(client, "beta", "x-1");
  Recharge(client, "alpha", "y-1");
  sim->Stop();
  std::ifstream file(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(file, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(ParseObject(lines[0]).at("channel").as_string(), "beta");
  EXPECT_EQ(ParseObject(lines[1]).at("channel").as_string(), "alpha");
  std::remove(path.c_str());
}

TEST(MultiChannelSimTest, OutageWindowRefusesThenRecovers) {
  FakeClock clock;
  SimOptions options;
  options.clock = &clock;
  options.channels = {Channel("alpha"), Channel("beta")};
  options.channels[0].outages = {OutageWindow{10'000, 25'000}};
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  EXPECT_EQ(Recharge(client, "alpha", "before-1").Status(), "success");

  clock.AdvanceMs(10'000);
  const Answer refused = Recharge(client, "alpha", "during-1");
  EXPECT_EQ(refused.status, 503);
  EXPECT_EQ(refused.body.at("code").as_string(), "outage");
  EXPECT_EQ(Query(client, "alpha", "before-1").status, 503);
  EXPECT_EQ(Recharge(client, "beta", "elsewhere-1").Status(), "success") << "only alpha is down";
  clock.AdvanceMs(14'999);
  EXPECT_EQ(Recharge(client, "alpha", "during-2").status, 503);
  EXPECT_EQ(sim->Credits().size(), 2u);

  clock.AdvanceMs(1);  // 25 s: the window is over
  EXPECT_EQ(Recharge(client, "alpha", "after-1").Status(), "success");
  EXPECT_EQ(Query(client, "alpha", "before-1").Status(), "success");
  EXPECT_EQ(Query(client, "alpha", "during-1").Status(), "not_found")
      << "a refused request left no trace";
  EXPECT_EQ(sim->Credits().size(), 3u);
  Result<SimStats> alpha = sim->ChannelStats("alpha");
  ASSERT_TRUE(alpha.ok());
  EXPECT_EQ(alpha->outage_refusals, 3);
  EXPECT_EQ(alpha->received, 2);
  EXPECT_EQ(sim->ChannelStats("beta")->outage_refusals, 0);
}

TEST(MultiChannelSimTest, BlackholeOutageDropsTheConnectionAndCreditsNothing) {
  FakeClock clock;
  SimOptions options;
  options.clock = &clock;
  options.channels = {Channel("alpha")};
  options.channels[0].outages = {OutageWindow{0, 60'000}};
  options.channels[0].outage_mode = OutageMode::kBlackhole;
  options.channels[0].blackhole_hold_ms = 50;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  Result<http::HttpResponse> response =
      client.Send("POST", "/alpha/recharge", RechargeBody("o-1"), kTimeout);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().reason(), "broken") << response.status().ToString();
  EXPECT_TRUE(sim->Credits().empty());
  EXPECT_EQ(sim->Stats().outage_refusals, 1);
  clock.AdvanceMs(60'000);
  EXPECT_EQ(Recharge(client, "alpha", "o-1").Status(), "success");
}

TEST(MultiChannelSimTest, AsyncModeSendsASignedCallbackWithTheOutcome) {
  CallbackRecorder service;
  SimOptions options;
  options.channels = {Channel("alpha"), Channel("beta")};
  options.channels[0].async = Async(service.Url("/v1/supplier-callbacks/alpha"), "alpha-secret");
  options.channels[0].async->delay_median_ms = 5;
  options.channels[0].async->delay_p99_ms = 20;
  options.channels[1].fail_rate = 1.0;
  options.channels[1].async = Async(service.Url("/v1/supplier-callbacks/beta"), "beta-secret");
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());

  const Answer accepted = Recharge(client, "alpha", "o1-1");
  EXPECT_EQ(accepted.Status(), "processing") << "an async supplier only acknowledges";
  const std::string ref(accepted.body.at("supplier_ref").as_string());
  EXPECT_EQ(sim->Credits().size(), 1u) << "a success is credited at intake";
  ASSERT_TRUE(service.WaitFor(1));
  EXPECT_EQ(Recharge(client, "beta", "o2-1").Status(), "processing");
  ASSERT_TRUE(service.WaitFor(2));

  const std::vector<CallbackRecorder::Received> received = service.received();
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0].path, "/v1/supplier-callbacks/alpha");
  EXPECT_EQ(received[0].signature, HmacSha256Hex("alpha-secret", received[0].body));
  const json::object first = ParseObject(received[0].body);
  EXPECT_EQ(first.at("supplier_order_id").as_string(), "o1-1");
  EXPECT_EQ(first.at("status").as_string(), "success");
  EXPECT_EQ(first.at("supplier_ref").as_string(), ref);

  EXPECT_EQ(received[1].path, "/v1/supplier-callbacks/beta");
  EXPECT_EQ(received[1].signature, HmacSha256Hex("beta-secret", received[1].body));
  EXPECT_NE(received[1].signature, HmacSha256Hex("alpha-secret", received[1].body));
  EXPECT_EQ(ParseObject(received[1].body).at("status").as_string(), "failed");

  ASSERT_TRUE(WaitUntil([&] { return sim->Stats().callbacks_sent == 2; }));
  EXPECT_EQ(Query(client, "alpha", "o1-1").Status(), "success");
  EXPECT_EQ(Call(client, "GET", "/alpha/stats").body.at("callbacks_sent").as_int64(), 1);
  EXPECT_EQ(sim->Stats().processing, 2);
  EXPECT_EQ(sim->Stats().callbacks_failed, 0);
}

TEST(MultiChannelSimTest, DuplicateRateOneSendsEveryCallbackTwice) {
  CallbackRecorder service;
  SimOptions options;
  options.channels = {Channel("alpha")};
  options.channels[0].async = Async(service.Url("/cb"));
  options.channels[0].async->duplicate_rate = 1.0;
  options.channels[0].async->delay_median_ms = 2;
  options.channels[0].async->delay_p99_ms = 10;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  EXPECT_EQ(Recharge(client, "alpha", "o1-1").Status(), "processing");
  ASSERT_TRUE(service.WaitFor(2));
  ASSERT_TRUE(WaitUntil([&] { return sim->Stats().callbacks_sent == 2; }));
  const std::vector<CallbackRecorder::Received> received = service.received();
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0].body, received[1].body);
  EXPECT_EQ(received[0].signature, received[1].signature);
  EXPECT_EQ(sim->Stats().callbacks_duplicated, 1);
  EXPECT_EQ(sim->Credits().size(), 1u) << "a duplicated callback is no second credit";
}

TEST(MultiChannelSimTest, LossRateOneSendsNoCallbackButQueryTellsTheOutcome) {
  CallbackRecorder service;
  SimOptions options;
  // One sender and no delay: callbacks go out in the order the recharges arrived, so once the
  // sentinel's callback is in, any callback of the lossy channel would have been too.
  options.callback_threads = 1;
  options.channels = {Channel("lossy"), Channel("sentinel")};
  options.channels[0].async = Async(service.Url("/cb/lossy"));
  options.channels[0].async->loss_rate = 1.0;
  options.channels[0].fail_rate = 0.5;
  options.channels[1].async = Async(service.Url("/cb/sentinel"));
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  constexpr int kLossy = 20;
  for (int i = 0; i < kLossy; ++i) {
    EXPECT_EQ(Recharge(client, "lossy", "l" + std::to_string(i) + "-1").Status(), "processing");
  }
  EXPECT_EQ(Recharge(client, "sentinel", "s-1").Status(), "processing");
  ASSERT_TRUE(service.WaitFor(1));
  ASSERT_TRUE(WaitUntil([&] { return sim->Stats().callbacks_sent == 1; }));
  const std::vector<CallbackRecorder::Received> received = service.received();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].path, "/cb/sentinel");

  Result<SimStats> lossy = sim->ChannelStats("lossy");
  ASSERT_TRUE(lossy.ok());
  EXPECT_EQ(lossy->callbacks_lost, kLossy);
  EXPECT_EQ(lossy->callbacks_sent, 0);
  // Polling still finds every outcome, and it matches the credits.
  int credited = 0;
  for (int i = 0; i < kLossy; ++i) {
    const std::string status = Query(client, "lossy", "l" + std::to_string(i) + "-1").Status();
    EXPECT_TRUE(status == "success" || status == "failed") << status;
    credited += status == "success" ? 1 : 0;
  }
  EXPECT_EQ(credited, lossy->credited);
  EXPECT_GT(lossy->credited, 0);
  EXPECT_GT(lossy->failed, 0);
}

TEST(MultiChannelSimTest, NotFoundIsCountedAndNotRetried) {
  CallbackRecorder service({404});
  SimOptions options;
  options.callback_retry_backoff = 1ms;
  options.channels = {Channel("alpha")};
  options.channels[0].async = Async(service.Url("/cb"));
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  Recharge(client, "alpha", "o1-1");
  ASSERT_TRUE(WaitUntil([&] { return sim->Stats().callbacks_unknown_id == 1; }));
  EXPECT_EQ(service.received().size(), 1u);
  EXPECT_EQ(sim->Stats().callbacks_sent, 0);
  EXPECT_EQ(sim->Stats().callbacks_failed, 0);
}

TEST(MultiChannelSimTest, ServerErrorsAreRetriedAtMostThreeTimes) {
  CallbackRecorder service({503, 500, 200, 503, 503, 503, 503});
  SimOptions options;
  options.callback_threads = 1;
  options.callback_retry_backoff = 1ms;
  options.channels = {Channel("alpha")};
  options.channels[0].async = Async(service.Url("/cb"));
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  // The first delivery gets 503, 500, then 200 on its third try.
  Recharge(client, "alpha", "o1-1");
  ASSERT_TRUE(WaitUntil([&] { return sim->Stats().callbacks_sent == 1; }));
  EXPECT_EQ(service.received().size(), 3u);
  // The second gets 503 four times: the first try and three retries, then it is given up.
  Recharge(client, "alpha", "o2-1");
  ASSERT_TRUE(WaitUntil([&] { return sim->Stats().callbacks_failed == 1; }));
  EXPECT_EQ(service.received().size(), 7u);
  EXPECT_EQ(sim->Stats().callbacks_sent, 1);
}

TEST(MultiChannelSimTest, CallbackMovesOnToTheNextNodeWhenOneRefusesConnections) {
  uint16_t dead_port = 0;
  {
    CallbackRecorder stopped;
    dead_port = stopped.port();
  }
  CallbackRecorder live;
  SimOptions options;
  options.channels = {Channel("alpha")};
  options.channels[0].async =
      Async("http://127.0.0.1:" + std::to_string(dead_port) + "/cb, " + live.Url("/cb"));
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  Recharge(client, "alpha", "o1-1");
  ASSERT_TRUE(live.WaitFor(1));
  ASSERT_TRUE(WaitUntil([&] { return sim->Stats().callbacks_sent == 1; }));
  EXPECT_EQ(sim->Stats().callbacks_failed, 0);
}

TEST(MultiChannelSimTest, FullSenderQueueDropsAndCounts) {
  CallbackRecorder service({}, /*hold_first=*/1);
  SimOptions options;
  options.callback_threads = 1;
  options.callback_queue_max = 1;
  options.callback_timeout = 10s;
  options.channels = {Channel("alpha")};
  options.channels[0].async = Async(service.Url("/cb"));
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  Recharge(client, "alpha", "o1-1");
  ASSERT_TRUE(service.WaitFor(1));    // the only sender waits on this one's answer
  Recharge(client, "alpha", "o2-1");  // queued
  Recharge(client, "alpha", "o3-1");  // the queue is full
  EXPECT_EQ(sim->Stats().callbacks_dropped, 1);
  service.Release();
  ASSERT_TRUE(WaitUntil([&] { return sim->Stats().callbacks_sent == 2; }));
  EXPECT_EQ(service.received().size(), 2u);
}

TEST(MultiChannelSimTest, StopDropsCallbacksNotYetDue) {
  CallbackRecorder service;
  SimOptions options;
  options.channels = {Channel("alpha")};
  options.channels[0].async = Async(service.Url("/cb"));
  options.channels[0].async->delay_median_ms = 30'000;
  options.channels[0].async->delay_p99_ms = 30'000;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  EXPECT_EQ(Recharge(client, "alpha", "o1-1").Status(), "processing");
  const auto start = std::chrono::steady_clock::now();
  sim->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_TRUE(service.received().empty());
}

TEST(MultiChannelSimTest, InvalidChannelsAreRejected) {
  SimOptions options;
  options.channels = {Channel("alpha"), Channel("alpha")};
  EXPECT_EQ(SupplierSim::Start(options).status().reason(), "bad_sim_options");
  options.channels = {Channel("al/pha")};
  EXPECT_EQ(SupplierSim::Start(options).status().reason(), "bad_sim_options");
  options.channels = {Channel("alpha")};
  options.channels[0].outages = {OutageWindow{5'000, 5'000}};
  EXPECT_EQ(SupplierSim::Start(options).status().reason(), "bad_sim_options");
  options.channels = {Channel("alpha")};
  options.channels[0].async = Async("http://10.0.0.1:80/cb");
  EXPECT_EQ(SupplierSim::Start(options).status().reason(), "bad_sim_options");
  options.channels[0].async = Async("http://127.0.0.1:8080/cb", "");
  EXPECT_EQ(SupplierSim::Start(options).status().reason(), "bad_sim_options");
  options.channels[0].async = Async("http://127.0.0.1:8080/cb");
  options.channels[0].async->loss_rate = 2;
  EXPECT_EQ(SupplierSim::Start(options).status().reason(), "bad_sim_options");
}

}  // namespace
}  // namespace topup::sim
