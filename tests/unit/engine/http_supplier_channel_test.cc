// The protocol-v1 client against a small real HTTP server that answers what each test wants.
#include "engine/http_supplier_channel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "http/http_server.h"
#include "process/child_process.h"

namespace topup {
namespace {

TEST(ParseBaseUrlTest, Forms) {
  std::optional<BaseUrl> url = ParseBaseUrl("http://127.0.0.1:9090");
  ASSERT_TRUE(url);
  EXPECT_FALSE(url->tls);
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, 9090);
  EXPECT_EQ(url->path_prefix, "");
  url = ParseBaseUrl("https://supplier.example:8443/alpha/");
  ASSERT_TRUE(url);
  EXPECT_TRUE(url->tls);
  EXPECT_EQ(url->host, "supplier.example");
  EXPECT_EQ(url->path_prefix, "/alpha");
  for (const char* bad : {"", "127.0.0.1:80", "ftp://h:1", "http://h", "http://h:0",
                          "http://h:70000", "http://:80", "http://h:8x", "https://h"}) {
    EXPECT_FALSE(ParseBaseUrl(bad)) << bad;
  }
}

class HttpSupplierChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = http::HttpServer::Listen(
        http::HttpServerOptions{}, [this](http::HttpRequest request, http::Responder respond) {
          std::lock_guard lock(mu_);
          last_target_ = request.target;
          if (answer_status_ == kHold) {
            held_.push_back(std::move(respond));
            held_changed_.notify_all();
            return;
          }
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
  // Waits a bounded time until the server holds an unanswered request (see kHold).
  bool WaitForHeldRequest() {
    std::unique_lock lock(mu_);
    return held_changed_.wait_for(lock, std::chrono::seconds(10),
                                  [this] { return !held_.empty(); });
  }

  // An answer status that keeps each request unanswered (and its connection open) until TearDown.
  static constexpr int kHold = -2;

  std::mutex mu_;
  std::condition_variable held_changed_;
  int answer_status_ = 200;            // GUARDED_BY(mu_); < 0: never answer
  std::vector<http::Responder> held_;  // GUARDED_BY(mu_)
  std::string answer_body_;            // GUARDED_BY(mu_)
  std::string last_target_;            // GUARDED_BY(mu_)
  std::unique_ptr<http::HttpServer> server_;
};

const SubmitRequest kRequest{"o1-1", "13800138000", 50};
constexpr auto kWait = std::chrono::seconds(10);

// Starts an asynchronous call and waits a bounded time for the answer it passes to `done`.
std::optional<SupplierAnswer> AwaitAnswer(const std::function<void(AnswerCallback)>& start) {
  auto promise = std::make_shared<std::promise<SupplierAnswer>>();
  std::future<SupplierAnswer> answer = promise->get_future();
  start([promise](SupplierAnswer value) { promise->set_value(std::move(value)); });
  if (answer.wait_for(kWait) != std::future_status::ready) return std::nullopt;
  return answer.get();
}

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

TEST_F(HttpSupplierChannelTest, AsyncCallsMapAnswersLikeBlockingOnes) {
  auto channel = Channel("/alpha");
  Answer(200, R"({"status":"success","supplier_ref":"R"})");
  std::optional<SupplierAnswer> submitted =
      AwaitAnswer([&](AnswerCallback done) { channel->SubmitAsync(kRequest, std::move(done)); });
  ASSERT_TRUE(submitted.has_value());
  EXPECT_EQ(submitted->outcome, SupplierOutcome::kSuccess);
  EXPECT_EQ(submitted->supplier_ref, "R");
  EXPECT_EQ(LastTarget(), "/alpha/recharge");
  Answer(400, R"({"code":"bad"})");
  submitted =
      AwaitAnswer([&](AnswerCallback done) { channel->SubmitAsync(kRequest, std::move(done)); });
  ASSERT_TRUE(submitted.has_value());
  EXPECT_EQ(submitted->outcome, SupplierOutcome::kFailed);

  Answer(200, R"({"status":"not_found"})");
  std::optional<SupplierAnswer> queried =
      AwaitAnswer([&](AnswerCallback done) { channel->QueryAsync("o 1/1", std::move(done)); });
  ASSERT_TRUE(queried.has_value());
  EXPECT_EQ(queried->outcome, SupplierOutcome::kNotFound);
  EXPECT_EQ(LastTarget(), "/alpha/query?supplier_order_id=o%201%2F1");
}

TEST_F(HttpSupplierChannelTest, AnswersManyConcurrentAsyncSubmits) {
  auto channel = Channel();
  Answer(200, R"({"status":"processing"})");
  constexpr int kSubmits = 100;
  std::mutex mu;
  std::condition_variable all_answered;
  int answered = 0;    // GUARDED_BY(mu)
  int processing = 0;  // GUARDED_BY(mu)
  for (int i = 0; i < kSubmits; ++i) {
    channel->SubmitAsync(kRequest, [&](SupplierAnswer answer) {
      std::lock_guard lock(mu);
      ++answered;
      if (answer.outcome == SupplierOutcome::kProcessing) ++processing;
      all_answered.notify_all();
    });
  }
  std::unique_lock lock(mu);
  ASSERT_TRUE(all_answered.wait_for(lock, kWait, [&] { return answered == kSubmits; }));
  EXPECT_EQ(processing, kSubmits);
}

TEST_F(HttpSupplierChannelTest, AsyncSilenceIsUnknownWithinTheTimeoutAndRefusalIsNotSent) {
  auto channel = Channel();
  Answer(kHold, "");
  const auto start = std::chrono::steady_clock::now();
  std::optional<SupplierAnswer> silent =
      AwaitAnswer([&](AnswerCallback done) { channel->SubmitAsync(kRequest, std::move(done)); });
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(silent.has_value());
  EXPECT_EQ(silent->outcome, SupplierOutcome::kUnknown);
  EXPECT_GE(elapsed, std::chrono::milliseconds(500));  // the attempt timeout
  EXPECT_LT(elapsed, std::chrono::seconds(10));        // bounded, with room for a loaded machine

  auto port = process::PickFreePort();
  ASSERT_TRUE(port.ok());
  auto nobody = HttpSupplierChannel::Create(HttpSupplierChannelOptions{
      .name = "t", .base_url = "http://127.0.0.1:" + std::to_string(*port)});
  ASSERT_TRUE(nobody.ok());
  std::optional<SupplierAnswer> refused =
      AwaitAnswer([&](AnswerCallback done) { (*nobody)->SubmitAsync(kRequest, std::move(done)); });
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->outcome, SupplierOutcome::kNotSent);
  std::optional<SupplierAnswer> queried =
      AwaitAnswer([&](AnswerCallback done) { (*nobody)->QueryAsync("o1-1", std::move(done)); });
  ASSERT_TRUE(queried.has_value());
  EXPECT_EQ(queried->outcome, SupplierOutcome::kUnknown);
}

TEST_F(HttpSupplierChannelTest, DestroyingTheChannelAnswersWhatIsPending) {
  auto channel = Channel();
  Answer(kHold, "");
  std::atomic<int> calls{0};
  std::optional<SupplierAnswer> answer;  // written on the channel's thread, read after it joined
  channel->SubmitAsync(kRequest, [&](SupplierAnswer value) {
    ++calls;
    answer = std::move(value);
  });
  ASSERT_TRUE(WaitForHeldRequest());
  channel.reset();
  EXPECT_EQ(calls.load(), 1);
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->outcome, SupplierOutcome::kUnknown);
}

}  // namespace
}  // namespace topup
