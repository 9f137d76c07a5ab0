// The supplier simulator, driven over HTTP with the client the engine uses.
#include "sim/supplier_sim.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <fstream>
#include <future>
#include <string>
#include <vector>

#include "http/http_client.h"
#include "topup/clock.h"

namespace topup::sim {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

constexpr auto kTimeout = 5s;

std::unique_ptr<SupplierSim> StartSim(const SimOptions& options) {
  Result<std::unique_ptr<SupplierSim>> sim = SupplierSim::Start(options);
  EXPECT_TRUE(sim.ok()) << sim.status().ToString();
  return sim.ok() ? std::move(sim).value() : nullptr;
}

std::string RechargeBody(const std::string& supplier_order_id,
                         const std::string& phone = "13800138000", int face_value = 50) {
  return json::serialize(json::object{
      {"supplier_order_id", supplier_order_id}, {"phone", phone}, {"face_value", face_value}});
}

// The parsed JSON body of a 200 answer, or null with a test failure.
json::object Call(http::HttpClient& client, const std::string& method, const std::string& target,
                  const std::string& body = "") {
  Result<http::HttpResponse> response = client.Send(method, target, body, kTimeout);
  EXPECT_TRUE(response.ok()) << method << " " << target << ": " << response.status().ToString();
  if (!response.ok()) return {};
  EXPECT_EQ(response->status, 200) << response->body;
  EXPECT_EQ(response->content_type, "application/json");
  boost::system::error_code ec;
  json::value value = json::parse(response->body, ec);
  EXPECT_FALSE(ec) << response->body;
  return ec || !value.is_object() ? json::object() : value.as_object();
}

std::string Status(const json::object& answer) {
  const json::value* status = answer.if_contains("status");
  return status != nullptr && status->is_string() ? std::string(status->get_string()) : "";
}

json::object Recharge(http::HttpClient& client, const std::string& supplier_order_id) {
  return Call(client, "POST", "/recharge", RechargeBody(supplier_order_id));
}

json::object Query(http::HttpClient& client, const std::string& supplier_order_id) {
  return Call(client, "GET", "/query?supplier_order_id=" + supplier_order_id);
}

TEST(SupplierSimTest, SuccessCreditsOnceAndQueryConfirms) {
  auto sim = StartSim(SimOptions{});
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  json::object answer = Recharge(client, "o1-1");
  EXPECT_EQ(Status(answer), "success");
  ASSERT_TRUE(answer.contains("supplier_ref"));
  const std::string ref(answer.at("supplier_ref").as_string());
  json::object query = Query(client, "o1-1");
  EXPECT_EQ(Status(query), "success");
  EXPECT_EQ(query.at("supplier_ref").as_string(), ref);

  std::vector<SimCredit> credits = sim->Credits();
  ASSERT_EQ(credits.size(), 1u);
  EXPECT_EQ(credits[0].supplier_order_id, "o1-1");
  EXPECT_EQ(credits[0].phone, "13800138000");
  EXPECT_EQ(credits[0].face_value, 50);
  EXPECT_EQ(credits[0].supplier_ref, ref);
  EXPECT_GT(credits[0].at_ms, 0);
}

TEST(SupplierSimTest, DedupAnswersRepeatsWithTheFirstResultAndNoNewCredit) {
  auto sim = StartSim(SimOptions{});
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  const std::string ref(Recharge(client, "o1-1").at("supplier_ref").as_string());
  for (int i = 0; i < 3; ++i) {
    json::object again = Recharge(client, "o1-1");
    EXPECT_EQ(Status(again), "success");
    EXPECT_EQ(again.at("supplier_ref").as_string(), ref);
  }
  EXPECT_EQ(Status(Recharge(client, "o2-1")), "success");
  EXPECT_EQ(sim->Credits().size(), 2u);
  const SimStats stats = sim->Stats();
  EXPECT_EQ(stats.received, 5);
  EXPECT_EQ(stats.duplicates, 3);
  EXPECT_EQ(stats.credited, 2);
}

TEST(SupplierSimTest, NoDedupCreditsEveryRequest) {
  SimOptions options;
  options.channel.dedup = false;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Status(Recharge(client, "o1-1")), "success");
  std::vector<SimCredit> credits = sim->Credits();
  ASSERT_EQ(credits.size(), 3u);
  for (const SimCredit& credit : credits) EXPECT_EQ(credit.supplier_order_id, "o1-1");
  EXPECT_NE(credits[0].supplier_ref, credits[1].supplier_ref);
  EXPECT_EQ(sim->Stats().duplicates, 2);
}

TEST(SupplierSimTest, FailRateOneFailsEverythingAndCreditsNothing) {
  SimOptions options;
  options.channel.fail_rate = 1.0;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  for (int i = 0; i < 20; ++i) {
    const std::string id = "o" + std::to_string(i) + "-1";
    json::object answer = Recharge(client, id);
    EXPECT_EQ(Status(answer), "failed");
    EXPECT_TRUE(answer.contains("reason"));
    EXPECT_EQ(Status(Query(client, id)), "failed");
  }
  EXPECT_TRUE(sim->Credits().empty());
  EXPECT_EQ(sim->Stats().failed, 20);
  EXPECT_EQ(sim->Stats().credited, 0);
}

TEST(SupplierSimTest, ProcessingBecomesFinalAfterProcessingMs) {
  FakeClock clock;
  SimOptions options;
  options.clock = &clock;
  options.channel.processing_rate = 1.0;
  options.channel.processing_ms = 2000;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  EXPECT_EQ(Status(Recharge(client, "o1-1")), "processing");
  EXPECT_EQ(sim->Credits().size(), 1u) << "a success is credited at intake";
  EXPECT_EQ(Status(Query(client, "o1-1")), "processing");
  clock.AdvanceMs(1999);
  EXPECT_EQ(Status(Query(client, "o1-1")), "processing");
  EXPECT_EQ(Status(Recharge(client, "o1-1")), "processing") << "a repeat sees the same state";
  clock.AdvanceMs(1);
  EXPECT_EQ(Status(Query(client, "o1-1")), "success");
  EXPECT_EQ(Status(Recharge(client, "o1-1")), "success");
  EXPECT_EQ(sim->Credits().size(), 1u);
  EXPECT_EQ(sim->Stats().processing, 1);
}

TEST(SupplierSimTest, ProcessingThatFailsIsNeverCredited) {
  FakeClock clock;
  SimOptions options;
  options.clock = &clock;
  options.channel.processing_rate = 1.0;
  options.channel.fail_rate = 1.0;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  EXPECT_EQ(Status(Recharge(client, "o1-1")), "processing");
  clock.AdvanceMs(options.channel.processing_ms);
  EXPECT_EQ(Status(Query(client, "o1-1")), "failed");
  EXPECT_TRUE(sim->Credits().empty());
}

TEST(SupplierSimTest, QueryLagAnswersNotFoundForYoungAttempts) {
  FakeClock clock;
  SimOptions options;
  options.clock = &clock;
  options.channel.query_lag_ms = 500;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  EXPECT_EQ(Status(Recharge(client, "o1-1")), "success");
  EXPECT_EQ(Status(Query(client, "o1-1")), "not_found");
  clock.AdvanceMs(499);
  EXPECT_EQ(Status(Query(client, "o1-1")), "not_found");
  clock.AdvanceMs(1);
  EXPECT_EQ(Status(Query(client, "o1-1")), "success");
  EXPECT_EQ(sim->Stats().queries, 3);
}

TEST(SupplierSimTest, UnknownAttemptIsNotFound) {
  auto sim = StartSim(SimOptions{});
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  EXPECT_EQ(Status(Query(client, "never-sent-1")), "not_found");
  Result<http::HttpResponse> missing = client.Send("GET", "/query", "", kTimeout);
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 400);
}

TEST(SupplierSimTest, QueryIdIsPercentDecoded) {
  auto sim = StartSim(SimOptions{});
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  EXPECT_EQ(Status(Recharge(client, "a b/c-1")), "success");
  EXPECT_EQ(Status(Query(client, "a%20b%2Fc-1")), "success");
}

TEST(SupplierSimTest, BlackholeCreditsButNeverAnswers) {
  SimOptions options;
  options.channel.blackhole_rate = 1.0;
  options.channel.blackhole_hold_ms = 100;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  const auto start = std::chrono::steady_clock::now();
  Result<http::HttpResponse> response = client.Send("POST", "/recharge", RechargeBody("o1-1"), 5s);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().reason(), "broken") << response.status().ToString();
  EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
  ASSERT_EQ(sim->Credits().size(), 1u);
  EXPECT_EQ(sim->Stats().blackholed, 1);
  // The truth is available to a query.
  EXPECT_EQ(Status(Query(client, "o1-1")), "success");
}

TEST(SupplierSimTest, BlackholeHeldLongerThanTheClientWaitsIsATimeout) {
  SimOptions options;
  options.channel.blackhole_rate = 1.0;
  options.channel.blackhole_hold_ms = 30'000;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  Result<http::HttpResponse> response =
      client.Send("POST", "/recharge", RechargeBody("o1-1"), 200ms);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().reason(), "timeout") << response.status().ToString();
  EXPECT_EQ(sim->Credits().size(), 1u);
  const auto start = std::chrono::steady_clock::now();
  sim->Stop();  // does not wait for the held answer
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(SupplierSimTest, CreditsEndpointListsEveryCreditInOrder) {
  SimOptions options;
  options.channel.dedup = false;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  for (const char* id : {"b-1", "a-1", "b-1", "c-1"})
    EXPECT_EQ(Status(Recharge(client, id)), "success");

  json::object body = Call(client, "GET", "/credits");
  ASSERT_TRUE(body.contains("credits"));
  const json::array& listed = body.at("credits").as_array();
  std::vector<SimCredit> credits = sim->Credits();
  ASSERT_EQ(listed.size(), 4u);
  ASSERT_EQ(credits.size(), 4u);
  const std::vector<std::string> ids = {"b-1", "a-1", "b-1", "c-1"};
  for (size_t i = 0; i < listed.size(); ++i) {
    const json::object& entry = listed[i].as_object();
    EXPECT_EQ(entry.at("supplier_order_id").as_string(), ids[i]);
    EXPECT_EQ(entry.at("phone").as_string(), credits[i].phone);
    EXPECT_EQ(entry.at("face_value").as_int64(), 50);
    EXPECT_EQ(entry.at("supplier_ref").as_string(), credits[i].supplier_ref);
    EXPECT_EQ(entry.at("at_ms").as_int64(), credits[i].at_ms);
  }
}

TEST(SupplierSimTest, StatsEndpointCounts) {
  SimOptions options;
  options.channel.fail_rate = 1.0;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  Recharge(client, "x-1");
  Recharge(client, "x-1");
  Query(client, "x-1");
  json::object stats = Call(client, "GET", "/stats");
  EXPECT_EQ(stats.at("received").as_int64(), 2);
  EXPECT_EQ(stats.at("duplicates").as_int64(), 1);
  EXPECT_EQ(stats.at("failed").as_int64(), 1);
  EXPECT_EQ(stats.at("credited").as_int64(), 0);
  EXPECT_EQ(stats.at("queries").as_int64(), 1);
  EXPECT_EQ(stats.at("blackholed").as_int64(), 0);
  EXPECT_EQ(stats.at("processing").as_int64(), 0);
}

TEST(SupplierSimTest, BadInputIsA400) {
  auto sim = StartSim(SimOptions{});
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  for (const std::string& body :
       {std::string("not json"), std::string("[]"), std::string(R"({"phone":"1","face_value":5})"),
        std::string(R"({"supplier_order_id":"a","phone":"1","face_value":"5"})"),
        std::string(R"({"supplier_order_id":"a","phone":"1","face_value":0})"),
        std::string(R"({"supplier_order_id":"","phone":"1","face_value":5})"),
        std::string(R"({"supplier_order_id":"a","phone":7,"face_value":5})")}) {
    Result<http::HttpResponse> response = client.Send("POST", "/recharge", body, kTimeout);
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    EXPECT_EQ(response->status, 400) << body;
    EXPECT_NE(response->body.find(R"("code":"bad_request")"), std::string::npos);
  }
  Result<http::HttpResponse> wrong_method = client.Send("GET", "/recharge", "", kTimeout);
  ASSERT_TRUE(wrong_method.ok());
  EXPECT_EQ(wrong_method->status, 405);
  Result<http::HttpResponse> unknown = client.Send("GET", "/nothing", "", kTimeout);
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->status, 404);
  EXPECT_TRUE(sim->Credits().empty());
  EXPECT_EQ(sim->Stats().received, 0);
}

TEST(SupplierSimTest, SameSeedSameDecisions) {
  auto outcomes = [](uint64_t seed) {
    SimOptions options;
    options.seed = seed;
    options.channel.fail_rate = 0.5;
    options.channel.processing_rate = 0.3;
    auto sim = StartSim(options);
    std::string seen;
    if (sim == nullptr) return seen;
    http::HttpClient client("127.0.0.1", sim->port());
    for (int i = 0; i < 60; ++i)
      seen += Status(Recharge(client, "o" + std::to_string(i) + "-1"))[0];
    return seen;
  };
  const std::string first = outcomes(42);
  EXPECT_EQ(first.size(), 60u);
  EXPECT_EQ(first, outcomes(42));
  EXPECT_NE(first, outcomes(43));
  // Both outcomes and both modes occur at these rates.
  EXPECT_NE(first.find('s'), std::string::npos);
  EXPECT_NE(first.find('f'), std::string::npos);
  EXPECT_NE(first.find('p'), std::string::npos);
}

TEST(SupplierSimTest, LatencyDelaysAnswers) {
  SimOptions options;
  options.channel.latency_median_ms = 40;
  options.channel.latency_p99_ms = 80;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  constexpr int kRequests = 10;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRequests; ++i) {
    EXPECT_EQ(Status(Recharge(client, "o" + std::to_string(i) + "-1")), "success");
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  // With median 40 ms, ten draws below 15 ms each would be a one-in-10^20 event.
  EXPECT_GE(elapsed, kRequests * 15ms);
  EXPECT_LT(elapsed, kRequests * 1s);
}

TEST(SupplierSimTest, CreditsFileGetsOneLinePerCredit) {
  const std::string path = ::testing::TempDir() + "sim_credits_test.jsonl";
  std::remove(path.c_str());
  SimOptions options;
  options.credits_file = path;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  Recharge(client, "a-1");
  Recharge(client, "b-1");
  Recharge(client, "a-1");  // a repeat: no credit
  std::ifstream file(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(file, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 2u);
  json::object first = json::parse(lines[0]).as_object();
  EXPECT_EQ(first.at("supplier_order_id").as_string(), "a-1");
  EXPECT_EQ(first.at("supplier_ref").as_string(), sim->Credits()[0].supplier_ref);
  std::remove(path.c_str());
}

TEST(SupplierSimTest, InvalidOptionsAreRejected) {
  SimOptions options;
  options.channel.fail_rate = 1.5;
  EXPECT_EQ(SupplierSim::Start(options).status().reason(), "bad_sim_options");
  options = SimOptions();
  options.channel.latency_median_ms = 50;
  options.channel.latency_p99_ms = 10;
  EXPECT_EQ(SupplierSim::Start(options).status().reason(), "bad_sim_options");
  options = SimOptions();
  options.credits_file = ::testing::TempDir() + "no-such-dir/credits.jsonl";
  EXPECT_EQ(SupplierSim::Start(options).status().reason(), "credits_file");
}

}  // namespace
}  // namespace topup::sim
