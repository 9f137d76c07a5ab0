// The faults of real suppliers the simulator plays: answers garbled after a credit, connections
// closed unanswered, queries failing. Driven over real HTTP on 127.0.0.1, as a client sees them.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "http/http_client.h"
#include "sim/supplier_sim.h"
#include "topup/clock.h"

namespace topup::sim {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

constexpr auto kTimeout = 5s;
constexpr int kAttempts = 16;  // enough for every variant of a fault to show at a fixed seed

std::unique_ptr<SupplierSim> StartSim(const SimOptions& options) {
  Result<std::unique_ptr<SupplierSim>> sim = SupplierSim::Start(options);
  EXPECT_TRUE(sim.ok()) << sim.status().ToString();
  return sim.ok() ? std::move(sim).value() : nullptr;
}

std::string Id(int i) { return "o" + std::to_string(i) + "-1"; }

std::string RechargeBody(const std::string& supplier_order_id) {
  return json::serialize(json::object{
      {"supplier_order_id", supplier_order_id}, {"phone", "13800138000"}, {"face_value", 50}});
}

Result<http::HttpResponse> PostRecharge(http::HttpClient& client, const std::string& id) {
  return client.Send("POST", "/recharge", RechargeBody(id), kTimeout);
}

// The parsed JSON object of `body`, or null.
std::optional<json::object> JsonObject(const std::string& body) {
  boost::system::error_code ec;
  json::value value = json::parse(body, ec);
  if (ec || !value.is_object()) return std::nullopt;
  return value.as_object();
}

// The "status" of a 200 JSON answer to GET `target`, or "" with a test failure.
std::string StatusOf(http::HttpClient& client, const std::string& target) {
  Result<http::HttpResponse> response = client.Send("GET", target, "", kTimeout);
  EXPECT_TRUE(response.ok()) << target << ": " << response.status().ToString();
  if (!response.ok()) return "";
  EXPECT_EQ(response->status, 200) << response->body;
  std::optional<json::object> body = JsonObject(response->body);
  EXPECT_TRUE(body.has_value()) << response->body;
  if (!body.has_value() || !body->contains("status")) return "";
  return std::string(body->at("status").as_string());
}

std::string QueryStatus(http::HttpClient& client, const std::string& id) {
  return StatusOf(client, "/query?supplier_order_id=" + id);
}

// The supplier_ref a 200 JSON query answer names, or "".
std::string QueriedRef(http::HttpClient& client, const std::string& id) {
  Result<http::HttpResponse> response =
      client.Send("GET", "/query?supplier_order_id=" + id, "", kTimeout);
  if (!response.ok()) return "";
  std::optional<json::object> body = JsonObject(response->body);
  if (!body.has_value() || !body->contains("supplier_ref")) return "";
  return std::string(body->at("supplier_ref").as_string());
}

json::object StatsJson(http::HttpClient& client) {
  Result<http::HttpResponse> response = client.Send("GET", "/stats", "", kTimeout);
  EXPECT_TRUE(response.ok());
  std::optional<json::object> body = response.ok() ? JsonObject(response->body) : std::nullopt;
  EXPECT_TRUE(body.has_value());
  return body.value_or(json::object());
}

// The credit's ref of every attempt, in order; checks each attempt was credited exactly once and
// that /query now tells the truth about it.
std::vector<std::string> CheckCreditedAndQueryTellsSuccess(SupplierSim& sim,
                                                           http::HttpClient& client, int attempts) {
  std::vector<SimCredit> credits = sim.Credits();
  EXPECT_EQ(credits.size(), static_cast<size_t>(attempts));
  std::vector<std::string> refs;
  for (size_t i = 0; i < credits.size(); ++i) {
    EXPECT_EQ(credits[i].supplier_order_id, Id(static_cast<int>(i)));
    EXPECT_EQ(QueryStatus(client, credits[i].supplier_order_id), "success");
    EXPECT_EQ(QueriedRef(client, credits[i].supplier_order_id), credits[i].supplier_ref);
    refs.push_back(credits[i].supplier_ref);
  }
  return refs;
}

// One POST /recharge on a fresh connection that asks to be closed after the answer, read to the
// end: what a client's socket receives, byte for byte.
struct RawExchange {
  bool connected = false;
  std::string bytes;  // everything received
  int end_errno = 0;  // of the read that ended the exchange; 0 at an orderly end of stream
};

RawExchange RawRecharge(uint16_t port, const std::string& id) {
  RawExchange exchange;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return exchange;
  timeval receive_timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &receive_timeout, sizeof(receive_timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return exchange;
  }
  exchange.connected = true;
  const std::string body = RechargeBody(id);
  const std::string request =
      "POST /recharge HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Content-Type: application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    exchange.end_errno = errno;
    ::close(fd);
    return exchange;
  }
  char chunk[4096];
  for (;;) {
    const ssize_t got = ::recv(fd, chunk, sizeof(chunk), 0);
    if (got > 0) {
      exchange.bytes.append(chunk, static_cast<size_t>(got));
      continue;
    }
    exchange.end_errno = got == 0 ? 0 : errno;
    break;
  }
  ::close(fd);
  return exchange;
}

// The value of a header in a raw HTTP/1.1 head, or "".
std::string HeaderValue(const std::string& head, const std::string& name) {
  const size_t at = head.find("\r\n" + name + ": ");
  if (at == std::string::npos) return "";
  const size_t start = at + 4 + name.size();
  return head.substr(start, head.find("\r\n", start) - start);
}

TEST(SupplierFaultsTest, ErrorAfterCreditAnswers5xxButCredits) {
  SimOptions options;
  options.channel.error_after_credit_rate = 1.0;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  std::set<int> statuses;
  int html = 0;
  int json_bodies = 0;
  for (int i = 0; i < kAttempts; ++i) {
    Result<http::HttpResponse> response = PostRecharge(client, Id(i));
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    EXPECT_TRUE(response->status == 500 || response->status == 502 || response->status == 503)
        << response->status;
    statuses.insert(response->status);
    if (response->content_type == "text/html") {
      ++html;
      EXPECT_NE(response->body.find("<html>"), std::string::npos) << response->body;
      EXPECT_NE(response->body.find(std::to_string(response->status)), std::string::npos);
    } else {
      ++json_bodies;
      EXPECT_EQ(response->content_type, "application/json");
      EXPECT_EQ(response->body, R"({"error":"internal"})");
    }
  }
  EXPECT_EQ(statuses.size(), 3u) << "500, 502 and 503 all occur";
  EXPECT_GT(html, 0);
  EXPECT_GT(json_bodies, 0);

  CheckCreditedAndQueryTellsSuccess(*sim, client, kAttempts);
  const SimStats stats = sim->Stats();
  EXPECT_EQ(stats.credited, kAttempts);
  EXPECT_EQ(stats.errors_after_credit, kAttempts);
  EXPECT_EQ(stats.garbled_after_credit, kAttempts);
  EXPECT_EQ(stats.truncated + stats.wrong_content + stats.unknown_status + stats.resets, 0);
  json::object endpoint = StatsJson(client);
  EXPECT_EQ(endpoint.at("errors_after_credit").as_int64(), kAttempts);
  EXPECT_EQ(endpoint.at("garbled_after_credit").as_int64(), kAttempts);
}

TEST(SupplierFaultsTest, TruncatedAnswerIsAPrefixOfTheSuccessWithAMatchingContentLength) {
  SimOptions options;
  options.channel.truncated_rate = 1.0;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  std::vector<std::string> bodies;
  for (int i = 0; i < kAttempts; ++i) {
    Result<http::HttpResponse> response = PostRecharge(client, Id(i));
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->content_type, "application/json");
    EXPECT_FALSE(JsonObject(response->body).has_value()) << response->body;
    bodies.push_back(response->body);
  }
  const std::vector<std::string> refs = CheckCreditedAndQueryTellsSuccess(*sim, client, kAttempts);
  ASSERT_EQ(refs.size(), bodies.size());
  std::set<size_t> lengths;
  for (size_t i = 0; i < bodies.size(); ++i) {
    const std::string whole = R"({"status":"success","supplier_ref":")" + refs[i] + R"("})";
    EXPECT_FALSE(bodies[i].empty());
    EXPECT_LT(bodies[i].size(), whole.size());
    EXPECT_EQ(whole.compare(0, bodies[i].size(), bodies[i]), 0) << bodies[i];
    lengths.insert(bodies[i].size());
  }
  EXPECT_GT(lengths.size(), 1u) << "the cut falls at different places";

  // On the wire: Content-Length counts exactly the bytes sent, then the connection ends cleanly.
  RawExchange raw = RawRecharge(sim->port(), Id(kAttempts));
  ASSERT_TRUE(raw.connected);
  EXPECT_EQ(raw.end_errno, 0);
  const size_t head_end = raw.bytes.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos) << raw.bytes;
  const std::string head = raw.bytes.substr(0, head_end);
  const std::string body = raw.bytes.substr(head_end + 4);
  EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  EXPECT_EQ(HeaderValue(head, "Content-Length"), std::to_string(body.size())) << head;
  EXPECT_EQ(body.rfind("{", 0), 0u) << body;
  EXPECT_FALSE(JsonObject(body).has_value()) << body;

  const SimStats stats = sim->Stats();
  EXPECT_EQ(stats.truncated, kAttempts + 1);
  EXPECT_EQ(stats.garbled_after_credit, kAttempts + 1);
  EXPECT_EQ(StatsJson(client).at("truncated").as_int64(), kAttempts + 1);
}

TEST(SupplierFaultsTest, WrongContentAnswersHtmlOrKeyValueTextButCredits) {
  SimOptions options;
  options.channel.wrong_content_rate = 1.0;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  std::vector<http::HttpResponse> answers;
  for (int i = 0; i < kAttempts; ++i) {
    Result<http::HttpResponse> response = PostRecharge(client, Id(i));
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    EXPECT_EQ(response->status, 200);
    answers.push_back(*response);
  }
  const std::vector<std::string> refs = CheckCreditedAndQueryTellsSuccess(*sim, client, kAttempts);
  ASSERT_EQ(refs.size(), answers.size());
  int html = 0;
  int plain = 0;
  for (size_t i = 0; i < answers.size(); ++i) {
    const http::HttpResponse& answer = answers[i];
    EXPECT_FALSE(JsonObject(answer.body).has_value()) << answer.body;
    if (answer.content_type == "text/html") {
      ++html;
      EXPECT_NE(answer.body.find("<html>"), std::string::npos) << answer.body;
      EXPECT_NE(answer.body.find(refs[i]), std::string::npos) << answer.body;
    } else {
      ++plain;
      EXPECT_EQ(answer.content_type, "text/plain");
      EXPECT_EQ(answer.body, "status=success\nsupplier_ref=" + refs[i] + "\n");
    }
  }
  EXPECT_GT(html, 0);
  EXPECT_GT(plain, 0);
  EXPECT_EQ(sim->Stats().wrong_content, kAttempts);
  EXPECT_EQ(StatsJson(client).at("wrong_content").as_int64(), kAttempts);
}

TEST(SupplierFaultsTest, UnknownStatusAnswersAStatusTheProtocolLacksButCredits) {
  SimOptions options;
  options.channel.unknown_status_rate = 1.0;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  const std::set<std::string> unknown = {"SUCCESS_PENDING", "0000", "", "ok", "done"};
  std::set<std::string> seen;
  std::vector<std::string> answered_refs;
  for (int i = 0; i < kAttempts; ++i) {
    Result<http::HttpResponse> response = PostRecharge(client, Id(i));
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->content_type, "application/json");
    std::optional<json::object> body = JsonObject(response->body);
    ASSERT_TRUE(body.has_value()) << response->body;
    const std::string status(body->at("status").as_string());
    EXPECT_EQ(unknown.count(status), 1u) << status;
    seen.insert(status);
    answered_refs.emplace_back(body->at("supplier_ref").as_string());
  }
  EXPECT_GE(seen.size(), 3u) << "several of the unknown statuses occur";
  EXPECT_EQ(CheckCreditedAndQueryTellsSuccess(*sim, client, kAttempts), answered_refs);
  EXPECT_EQ(sim->Stats().unknown_status, kAttempts);
  EXPECT_EQ(StatsJson(client).at("unknown_status").as_int64(), kAttempts);
}

TEST(SupplierFaultsTest, QueryAfterAGarbledAnswerStillWaitsForTheQueryLag) {
  FakeClock clock;
  SimOptions options;
  options.clock = &clock;
  options.channel.query_lag_ms = 500;
  options.channel.error_after_credit_rate = 1.0;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  Result<http::HttpResponse> response = PostRecharge(client, Id(0));
  ASSERT_TRUE(response.ok());
  EXPECT_GE(response->status, 500);
  EXPECT_EQ(sim->Credits().size(), 1u);
  EXPECT_EQ(QueryStatus(client, Id(0)), "not_found");
  clock.AdvanceMs(500);
  EXPECT_EQ(QueryStatus(client, Id(0)), "success");
}

TEST(SupplierFaultsTest, AfterCreditFaultsSpareAnswersThatAreNotAnImmediateSuccess) {
  SimOptions options;
  options.channel.error_after_credit_rate = 1.0;
  options.channel.fail_rate = 1.0;
  auto failing = StartSim(options);
  ASSERT_NE(failing, nullptr);
  http::HttpClient failing_client("127.0.0.1", failing->port());
  Result<http::HttpResponse> failed = PostRecharge(failing_client, Id(0));
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->status, 200);
  EXPECT_NE(failed->body.find(R"("status":"failed")"), std::string::npos) << failed->body;

  options = SimOptions();
  options.channel.truncated_rate = 1.0;
  options.channel.processing_rate = 1.0;
  auto processing = StartSim(options);
  ASSERT_NE(processing, nullptr);
  http::HttpClient processing_client("127.0.0.1", processing->port());
  Result<http::HttpResponse> pending = PostRecharge(processing_client, Id(0));
  ASSERT_TRUE(pending.ok());
  EXPECT_NE(pending->body.find(R"("status":"processing")"), std::string::npos) << pending->body;
  EXPECT_EQ(processing->Credits().size(), 1u);

  EXPECT_EQ(failing->Stats().garbled_after_credit + processing->Stats().garbled_after_credit, 0);
}

TEST(SupplierFaultsTest, WithDedupARepeatGetsTheWellFormedOutcome) {
  SimOptions options;
  options.channel.unknown_status_rate = 1.0;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  ASSERT_TRUE(PostRecharge(client, Id(0)).ok());
  Result<http::HttpResponse> again = PostRecharge(client, Id(0));
  ASSERT_TRUE(again.ok());
  std::optional<json::object> body = JsonObject(again->body);
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(body->at("status").as_string(), "success");
  EXPECT_EQ(sim->Credits().size(), 1u);
  EXPECT_EQ(sim->Stats().unknown_status, 1);
}

TEST(SupplierFaultsTest, WithoutDedupEveryRepeatIsANewGarbledCredit) {
  SimOptions options;
  options.channel.dedup = false;
  options.channel.truncated_rate = 1.0;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  for (int i = 0; i < 3; ++i) {
    Result<http::HttpResponse> response = PostRecharge(client, Id(0));
    ASSERT_TRUE(response.ok());
    EXPECT_FALSE(JsonObject(response->body).has_value()) << response->body;
  }
  std::vector<SimCredit> credits = sim->Credits();
  ASSERT_EQ(credits.size(), 3u);
  EXPECT_EQ(QueriedRef(client, Id(0)), credits.back().supplier_ref) << "the latest attempt";
  EXPECT_EQ(sim->Stats().truncated, 3);
  EXPECT_EQ(sim->Stats().duplicates, 2);
}

TEST(SupplierFaultsTest, ResetAbortsUnansweredAndNeitherCreditsNorRemembers) {
  SimOptions options;
  options.channel.reset_rate = 1.0;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  for (int i = 0; i < 4; ++i) {
    Result<http::HttpResponse> response = PostRecharge(client, Id(i));
    ASSERT_FALSE(response.ok());
    EXPECT_EQ(response.status().reason(), "broken") << response.status().ToString();
  }
  // The same id again is a new attempt, and is reset again.
  EXPECT_EQ(PostRecharge(client, Id(0)).status().reason(), "broken");

  // On the wire: not a byte of answer, and a reset (RST), not an orderly end of stream.
  RawExchange raw = RawRecharge(sim->port(), Id(9));
  ASSERT_TRUE(raw.connected);
  EXPECT_EQ(raw.bytes, "");
  EXPECT_EQ(raw.end_errno, ECONNRESET) << std::strerror(raw.end_errno);

  EXPECT_TRUE(sim->Credits().empty());
  for (int i : {0, 1, 2, 3, 9}) EXPECT_EQ(QueryStatus(client, Id(i)), "not_found") << i;
  const SimStats stats = sim->Stats();
  EXPECT_EQ(stats.resets, 6);
  EXPECT_EQ(stats.received, 6);
  EXPECT_EQ(stats.credited, 0);
  EXPECT_EQ(stats.failed, 0);
  EXPECT_EQ(stats.duplicates, 0) << "a reset attempt is not remembered";
  EXPECT_EQ(StatsJson(client).at("resets").as_int64(), 6);
}

TEST(SupplierFaultsTest, ResetAppliesInAsyncModeAndSendsNoCallback) {
  SimOptions options;
  options.channel.reset_rate = 1.0;
  options.channel.async = AsyncCallbackOptions{};
  options.channel.async->callback_url = "http://127.0.0.1:9/callbacks";  // never reached
  options.channel.async->callback_secret = "k";
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  EXPECT_EQ(PostRecharge(client, Id(0)).status().reason(), "broken");
  EXPECT_TRUE(sim->Credits().empty());
  EXPECT_EQ(QueryStatus(client, Id(0)), "not_found");
  const SimStats stats = sim->Stats();
  EXPECT_EQ(stats.resets, 1);
  EXPECT_EQ(stats.processing + stats.callbacks_lost + stats.callbacks_duplicated, 0);
}

TEST(SupplierFaultsTest, QueryErrorAnswers503WhateverTheState) {
  SimOptions options;
  options.channel.query_error_rate = 1.0;
  auto sim = StartSim(options);
  ASSERT_NE(sim, nullptr);
  http::HttpClient client("127.0.0.1", sim->port());
  Result<http::HttpResponse> recharge = PostRecharge(client, Id(0));
  ASSERT_TRUE(recharge.ok());
  EXPECT_NE(recharge->body.find(R"("status":"success")"), std::string::npos) << "recharge intact";
  int html = 0;
  int json_bodies = 0;
  constexpr int kQueries = 12;
  for (int i = 0; i < kQueries; ++i) {
    // Known and unknown attempts alike.
    Result<http::HttpResponse> response =
        client.Send("GET", "/query?supplier_order_id=" + Id(i % 2), "", kTimeout);
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    EXPECT_EQ(response->status, 503);
    if (response->content_type == "text/html") {
      ++html;
      EXPECT_NE(response->body.find("503 Service Unavailable"), std::string::npos);
    } else {
      ++json_bodies;
      EXPECT_EQ(response->content_type, "application/json");
      EXPECT_EQ(response->body, R"({"error":"internal"})");
    }
  }
  EXPECT_GT(html, 0);
  EXPECT_GT(json_bodies, 0);
  EXPECT_EQ(sim->Credits().size(), 1u);
  const SimStats stats = sim->Stats();
  EXPECT_EQ(stats.query_errors, kQueries);
  EXPECT_EQ(stats.queries, kQueries);
  EXPECT_EQ(StatsJson(client).at("query_errors").as_int64(), kQueries);
}

TEST(SupplierFaultsTest, MixedFaultsReplayForTheSameSeed) {
  static constexpr int kMixedAttempts = 200;  // at these rates every fault occurs, at both seeds
  auto run = [](uint64_t seed) {
    SimOptions options;
    options.seed = seed;
    options.channel.fail_rate = 0.2;
    options.channel.reset_rate = 0.15;
    options.channel.error_after_credit_rate = 0.15;
    options.channel.truncated_rate = 0.15;
    options.channel.wrong_content_rate = 0.15;
    options.channel.unknown_status_rate = 0.15;
    options.channel.query_error_rate = 0.3;
    std::string seen;
    auto sim = StartSim(options);
    if (sim == nullptr) return seen;
    http::HttpClient client("127.0.0.1", sim->port());
    for (int i = 0; i < kMixedAttempts; ++i) {
      Result<http::HttpResponse> response = PostRecharge(client, Id(i));
      seen += response.ok() ? std::to_string(response->status) + response->content_type +
                                  std::to_string(response->body.size())
                            : "closed";
      Result<http::HttpResponse> query =
          client.Send("GET", "/query?supplier_order_id=" + Id(i), "", kTimeout);
      seen += query.ok() ? std::to_string(query->status) : "broken";
      seen += ";";
    }
    const SimStats stats = sim->Stats();
    EXPECT_GT(stats.resets, 0);
    EXPECT_GT(stats.errors_after_credit, 0);
    EXPECT_GT(stats.truncated, 0);
    EXPECT_GT(stats.wrong_content, 0);
    EXPECT_GT(stats.unknown_status, 0);
    EXPECT_GT(stats.query_errors, 0);
    EXPECT_EQ(stats.garbled_after_credit, stats.errors_after_credit + stats.truncated +
                                              stats.wrong_content + stats.unknown_status);
    EXPECT_EQ(stats.credited + stats.failed + stats.resets, kMixedAttempts);
    return seen;
  };
  const std::string first = run(7);
  EXPECT_EQ(first, run(7));
  EXPECT_NE(first, run(8));
}

TEST(SupplierFaultsTest, RatesOutsideZeroToOneAreRejected) {
  for (double ChannelSimOptions::*rate :
       {&ChannelSimOptions::error_after_credit_rate, &ChannelSimOptions::truncated_rate,
        &ChannelSimOptions::wrong_content_rate, &ChannelSimOptions::unknown_status_rate,
        &ChannelSimOptions::reset_rate, &ChannelSimOptions::query_error_rate}) {
    for (double bad : {-0.1, 1.5}) {
      SimOptions options;
      options.channel.*rate = bad;
      EXPECT_EQ(SupplierSim::Start(options).status().reason(), "bad_sim_options") << bad;
      options = SimOptions();
      options.channels.push_back(ChannelSimOptions{});
      options.channels.back().name = "alpha";
      options.channels.back().*rate = bad;
      EXPECT_EQ(SupplierSim::Start(options).status().reason(), "bad_sim_options") << bad;
    }
  }
}

}  // namespace
}  // namespace topup::sim
