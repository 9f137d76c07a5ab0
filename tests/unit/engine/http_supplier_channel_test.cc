// The protocol-v1 client against a small real HTTP server that answers what each test wants.
#include "engine/http_supplier_channel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>

#include "http/http_server.h"
#include "process/child_process.h"

namespace topup {
namespace {

TEST(ParseHttpBaseUrlTest, Forms) {
  std::string host, prefix;
  uint16_t port = 0;
  EXPECT_TRUE(ParseHttpBaseUrl("http://127.0.0.1:9090", &host, &port, &prefix));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 9090);
  EXPECT_EQ(prefix, "");
  EXPECT_TRUE(ParseHttpBaseUrl("http://127.0.0.1:9090/alpha/", &host, &port, &prefix));
  EXPECT_EQ(prefix, "/alpha");
  for (const char* bad : {"", "127.0.0.1:80", "https://h:1", "http://h", "http://h:0",
                          "http://h:70000", "http://:80", "http://h:8x"}) {
    EXPECT_FALSE(ParseHttpBaseUrl(bad, &host, &port, &prefix)) << bad;
  }
}

class HttpSupplierChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = http::HttpServer::Listen(
        http::HttpServerOptions{}, [this](http::HttpRequest request, http::Responder respond) {
          std::lock_guard lock(mu_);
          last_target_ = request.target;
          if (answer_status_ < 0) return;  // never answer: the responder is dropped later
          http::HttpResponse response;
          response.status = answer_status_;
          response.body = answer_body_;
          respond(std::move(response));
        });
    ASSERT_TRUE(server.ok());
    server_ = std::move(*server);
    server_->Start();
  }
  void TearDown() override { server_->Stop(); }

  std::unique_ptr<HttpSupplierChannel> Channel(const std::string& suffix = "") {
    auto channel = HttpSupplierChannel::Create(HttpSupplierChannelOptions{
        .name = "t",
        .base_url = "http://127.0.0.1:" + std::to_string(server_->port()) + suffix,
        .attempt_timeout = std::chrono::milliseconds(500),
        .query_timeout = std::chrono::milliseconds(500)});
    EXPECT_TRUE(channel.ok());
    return std::move(*channel);
  }
  void Answer(int status, std::string body) {
    std::lock_guard lock(mu_);
    answer_status_ = status;
    answer_body_ = std::move(body);
  }
  std::string LastTarget() {
    std::lock_guard lock(mu_);
    return last_target_;
  }

  std::mutex mu_;
  int answer_status_ = 200;  // GUARDED_BY(mu_); < 0: never answer
  std::string answer_body_;  // GUARDED_BY(mu_)
  std::string last_target_;  // GUARDED_BY(mu_)
  std::unique_ptr<http::HttpServer> server_;
};

const SubmitRequest kRequest{"o1-1", "13800138000", 50};

TEST_F(HttpSupplierChannelTest, MapsAnswers) {
  auto channel = Channel("/alpha");
  Answer(200, R"({"status":"success","supplier_ref":"R"})");
  SupplierAnswer answer = channel->Submit(kRequest);
  EXPECT_EQ(answer.outcome, SupplierOutcome::kSuccess);
  EXPECT_EQ(answer.supplier_ref, "R");
  EXPECT_EQ(LastTarget(), "/alpha/recharge");
  Answer(200, R"({"status":"failed","reason":"no such number"})");
  EXPECT_EQ(channel->Submit(kRequest).outcome, SupplierOutcome::kFailed);
  Answer(200, R"({"status":"processing"})");
  EXPECT_EQ(channel->Submit(kRequest).outcome, SupplierOutcome::kProcessing);
  Answer(200, R"({"status":"not_found"})");
  EXPECT_EQ(channel->Query("o1-1").outcome, SupplierOutcome::kNotFound);
  EXPECT_EQ(LastTarget(), "/alpha/query?supplier_order_id=o1-1");
  EXPECT_EQ(channel->Submit(kRequest).outcome, SupplierOutcome::kUnknown);  // not for submits
  Answer(400, R"({"code":"bad"})");
  EXPECT_EQ(channel->Submit(kRequest).outcome, SupplierOutcome::kFailed);  // refused: not taken
  Answer(502, "");
  EXPECT_EQ(channel->Submit(kRequest).outcome, SupplierOutcome::kUnknown);  // may have acted
  Answer(200, "not json");
  EXPECT_EQ(channel->Submit(kRequest).outcome, SupplierOutcome::kUnknown);
  EXPECT_EQ(channel->Query("o1-1").outcome, SupplierOutcome::kUnknown);
}

TEST_F(HttpSupplierChannelTest, SilenceIsUnknownAndRefusalIsNotSent) {
  auto channel = Channel();
  Answer(-1, "");
  EXPECT_EQ(channel->Submit(kRequest).outcome, SupplierOutcome::kUnknown);
  auto port = process::PickFreePort();
  ASSERT_TRUE(port.ok());
  auto nobody = HttpSupplierChannel::Create(HttpSupplierChannelOptions{
      .name = "t", .base_url = "http://127.0.0.1:" + std::to_string(*port)});
  ASSERT_TRUE(nobody.ok());
  EXPECT_EQ((*nobody)->Submit(kRequest).outcome, SupplierOutcome::kNotSent);
  EXPECT_EQ((*nobody)->Query("o1-1").outcome, SupplierOutcome::kUnknown);  // a query says nothing
}

}  // namespace
}  // namespace topup
