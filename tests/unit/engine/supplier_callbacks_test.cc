#include "engine/supplier_callbacks.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/hmac.h"
#include "engine/supplier_callback_route.h"
#include "http/http_client.h"
#include "store/sqlite/sqlite_store.h"

namespace topup {
namespace {

class NullChannel final : public SupplierChannel {
 public:
  const std::string& name() const override { return name_; }
  SupplierAnswer Submit(const SubmitRequest&) override { return {}; }
  SupplierAnswer Query(std::string_view) override { return {}; }

 private:
  std::string name_ = "alpha";
};

class SupplierCallbacksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("topup-callbacks-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto store = OpenSqliteStore(SqliteStoreOptions{.path = (dir_ / "t.db").string()});
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
    ASSERT_TRUE(store_->CreateMerchant("m1", "m1", clock_.NowMs()).ok());
    ASSERT_TRUE(store_->FundMerchant("m1", 1'000'000, "", clock_.NowMs()).ok());
    RoutingConfig config;
    for (const char* name : {"alpha", "beta"}) {
      ChannelConfig channel;
      channel.name = name;
      channel.base_url = "http://127.0.0.1:1";
      channel.callback_secret = std::string("secret-") + name;
      config.channels.push_back(channel);
    }
    auto router = ChannelRouter::Create(
        config,
        [](const ChannelConfig&) -> Result<std::unique_ptr<SupplierChannel>> {
          return std::unique_ptr<SupplierChannel>(new NullChannel());
        },
        &random_);
    ASSERT_TRUE(router.ok());
    router_ = std::move(*router);
    callbacks_ =
        std::make_unique<SupplierCallbacks>(store_.get(), router_.get(), &clock_, OrderPolicy{});
    // An order whose first attempt is live on alpha.
    Order order;
    order.order_id = "o1";
    order.merchant_id = "m1";
    order.merchant_order_id = "mo1";
    order.phone = "13800138000";
    order.face_value_yuan = 50;
    order.price_fen = 5000;
    order.created_ms = order.updated_ms = clock_.NowMs();
    order.deadline_ms = order.created_ms + 180'000;
    ASSERT_TRUE(store_->AcceptOrder(order).ok());
    start_ = PlanNextAttempt(*store_->GetOrder("o1"), OrderPolicy{}, "alpha", clock_.NowMs());
    ASSERT_TRUE(*store_->ApplyTransition(start_));
  }
  void TearDown() override {
    callbacks_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  Result<std::string> Send(const std::string& channel, const std::string& body,
                           const std::string& secret) {
    return callbacks_->Handle(channel, body, HmacSha256Hex(secret, body));
  }

  std::filesystem::path dir_;
  FakeClock clock_;
  SeededRandom random_{1};
  std::unique_ptr<Store> store_;
  std::unique_ptr<ChannelRouter> router_;
  std::unique_ptr<SupplierCallbacks> callbacks_;
  Transition start_;
};

constexpr const char* kSuccess =
    R"({"supplier_order_id":"o1-1","status":"success","supplier_ref":"R1"})";

TEST(HmacTest, KnownVector) {
  // RFC 4231 test case 2.
  EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
}

TEST_F(SupplierCallbacksTest, BadSignaturesAreRefusedAndChangeNothing) {
  EXPECT_EQ(Send("alpha", kSuccess, "wrong").status().reason(), "bad_signature");
  EXPECT_EQ(Send("alpha", kSuccess, "secret-beta").status().reason(), "bad_signature");
  EXPECT_EQ(callbacks_->Handle("alpha", kSuccess, "").status().reason(), "bad_signature");
  EXPECT_EQ(Send("gamma", kSuccess, "secret-alpha").status().reason(), "unknown_channel");
  EXPECT_EQ(store_->GetOrder("o1")->status, OrderStatus::kCharging);
}

TEST_F(SupplierCallbacksTest, UnknownIdsAre404) {
  for (const char* id : {"nope-1", "o1-2", "o1", "o2-1"}) {
    std::string body = std::string(R"({"supplier_order_id":")") + id + R"(","status":"success"})";
    EXPECT_EQ(Send("alpha", body, "secret-alpha").status().reason(), "unknown_supplier_order_id")
        << id;
  }
  // The live attempt, but reported by a channel it was not sent to.
  EXPECT_EQ(Send("beta", kSuccess, "secret-beta").status().reason(), "unknown_supplier_order_id");
  EXPECT_EQ(Send("alpha", "{}", "secret-alpha").status().reason(), "malformed_callback");
}

TEST_F(SupplierCallbacksTest, SuccessBeforeTheSubmitAnswerWinsOnceAndReplaysChangeNothing) {
  auto first = Send("alpha", kSuccess, "secret-alpha");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(*first, "applied");
  Result<Order> order = store_->GetOrder("o1");
  EXPECT_EQ(order->status, OrderStatus::kSuccess);
  EXPECT_EQ(order->supplier_ref, "R1");
  // The submit's own answer arrives afterwards: its compare-and-set finds the state moved.
  Order as_worker_saw_it = *store_->GetOrder("o1");
  as_worker_saw_it.status = OrderStatus::kCharging;
  as_worker_saw_it.supplier_order_id = "o1-1";
  Transition late = PlanAfterAnswer(as_worker_saw_it, {SupplierOutcome::kProcessing, "", ""}, true,
                                    OrderPolicy{}, clock_.NowMs());
  EXPECT_FALSE(*store_->ApplyTransition(late));
  // Replays and contradicting duplicates are answered but change nothing.
  EXPECT_EQ(*Send("alpha", kSuccess, "secret-alpha"), "already_final");
  EXPECT_EQ(*Send("alpha", R"({"supplier_order_id":"o1-1","status":"failed"})", "secret-alpha"),
            "already_final");
  EXPECT_EQ(store_->GetOrder("o1")->status, OrderStatus::kSuccess);
  EXPECT_EQ(store_->GetMerchant("m1")->balance_fen, 1'000'000 - 5000);
  auto audit = store_->AuditLedger();
  EXPECT_TRUE(audit->balanced) << audit->problems;
}

TEST_F(SupplierCallbacksTest, FailureKillsTheAttemptOnce) {
  auto failed = Send("alpha", R"({"supplier_order_id":"o1-1","status":"failed"})", "secret-alpha");
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(*failed, "applied");
  Result<Order> order = store_->GetOrder("o1");
  EXPECT_EQ(order->status, OrderStatus::kCharging);
  EXPECT_TRUE(order->supplier_order_id.empty());  // a new attempt may start
  EXPECT_EQ(*Send("alpha", R"({"supplier_order_id":"o1-1","status":"failed"})", "secret-alpha"),
            "stale_attempt");
  EXPECT_EQ(*Send("alpha", R"({"supplier_order_id":"o1-1","status":"processing"})", "secret-alpha"),
            "no_change");
}

TEST_F(SupplierCallbacksTest, NeverTwoLiveAttempts) {
  // Attempt 1 is live. A worker holding a stale snapshot from before it started cannot start
  // another attempt: the compare-and-set on (status, attempt_count) refuses it.
  Order stale = *store_->GetOrder("o1");
  stale.status = OrderStatus::kAccepted;
  stale.attempt_count = 0;
  stale.supplier_order_id.clear();
  Transition second_start = PlanNextAttempt(stale, OrderPolicy{}, "beta", clock_.NowMs());
  EXPECT_FALSE(*store_->ApplyTransition(second_start));
  // Once attempt 1 is confirmed dead, exactly one of two racing workers starts attempt 2.
  ASSERT_TRUE(
      Send("alpha", R"({"supplier_order_id":"o1-1","status":"failed"})", "secret-alpha").ok());
  Order dead = *store_->GetOrder("o1");
  ASSERT_TRUE(dead.supplier_order_id.empty());
  Transition a = PlanNextAttempt(dead, OrderPolicy{}, "alpha", clock_.NowMs());
  Transition b = PlanNextAttempt(dead, OrderPolicy{}, "beta", clock_.NowMs());
  Result<bool> applied_a = store_->ApplyTransition(a);
  Result<bool> applied_b = store_->ApplyTransition(b);
  ASSERT_TRUE(applied_a.ok() && applied_b.ok());
  EXPECT_NE(*applied_a, *applied_b);
  Order after = *store_->GetOrder("o1");
  EXPECT_EQ(after.attempt_count, 2);
  EXPECT_EQ(after.supplier_order_id, "o1-2");
  // And an order with a live attempt can never be failed (and so refunded) while it may succeed.
  Transition fail = a;
  fail.from = OrderStatus::kCharging;
  fail.from_attempt_count = 2;
  fail.to = OrderStatus::kFailed;
  fail.attempt = Transition::Attempt::kKeep;
  fail.supplier_order_id.clear();
  fail.channel.clear();
  fail.fail_reason = "test";
  fail.event_kind = "failed_refunded";
  EXPECT_FALSE(store_->ApplyTransition(fail).ok());
  EXPECT_EQ(store_->GetOrder("o1")->status, OrderStatus::kCharging);
}

// The route answers over HTTP what Handle answers, with the codes of the API.
TEST_F(SupplierCallbacksTest, TheRouteAnswersOverHttp) {
  SupplierCallbackRoute route(callbacks_.get());
  auto server = http::HttpServer::Listen(
      http::HttpServerOptions{}, [&route](http::HttpRequest request, http::Responder respond) {
        route.Handle(std::move(request), std::move(respond));
      });
  ASSERT_TRUE(server.ok());
  (*server)->Start();
  http::HttpClient client("127.0.0.1", (*server)->port());
  auto send = [&](const std::string& method, const std::string& target, const std::string& body,
                  const std::string& secret) {
    Result<http::HttpResponse> answer =
        client.Send(method, target, body, std::chrono::milliseconds(10'000),
                    {{"X-Signature", HmacSha256Hex(secret, body)}});
    EXPECT_TRUE(answer.ok()) << answer.status().ToString();
    return answer.ok() ? *answer : http::HttpResponse{};
  };
  EXPECT_EQ(send("POST", "/v1/supplier-callbacks/alpha", kSuccess, "wrong").status, 401);
  EXPECT_EQ(send("POST", "/v1/supplier-callbacks/gamma", kSuccess, "secret-alpha").status, 404);
  EXPECT_EQ(send("GET", "/v1/supplier-callbacks/alpha", "", "secret-alpha").status, 405);
  http::HttpResponse deeper = send("POST", "/v1/supplier-callbacks/alpha/x", kSuccess, "");
  EXPECT_EQ(deeper.status, 404);
  EXPECT_NE(deeper.body.find("no_such_route"), std::string::npos) << deeper.body;
  http::HttpResponse applied =
      send("POST", "/v1/supplier-callbacks/alpha", kSuccess, "secret-alpha");
  EXPECT_EQ(applied.status, 200);
  EXPECT_EQ(applied.body, R"({"result":"applied"})");
  EXPECT_EQ(store_->GetOrder("o1")->status, OrderStatus::kSuccess);
  (*server)->Stop();
}

}  // namespace
}  // namespace topup
