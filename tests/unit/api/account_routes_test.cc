// The account routes (api/account_routes.h) and the notify_url guard at acceptance, over real
// HTTP on 127.0.0.1 and a real SQLite store: balances and statements against the ledger, order
// pages, and an order's notifications listed and re-sent.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>

#include "api_under_test.h"
#include "auth/merchant_keys.h"
#include "auth/request_signature.h"
#include "http/http_client.h"
#include "queue/embedded/embedded_queue.h"
#include "store/sqlite/sqlite_store.h"

namespace topup::api {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;

class AccountRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("topup-account-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto store = OpenSqliteStore(SqliteStoreOptions{.path = (dir_ / "t.db").string()});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    for (const char* id : {"m1", "m2"}) {
      ASSERT_TRUE(store_->CreateMerchant(id, "Shop", clock_.NowMs()).ok());
      ASSERT_TRUE(store_->FundMerchant(id, 100'000, "opening", clock_.NowMs()).ok());
    }
    key_ = *auth::CreateMerchantKey(*store_, box_, "m1", clock_.NowMs());
    other_key_ = *auth::CreateMerchantKey(*store_, box_, "m2", clock_.NowMs());
    Serve(false);
  }
  void TearDown() override {
    client_.reset();
    if (server_) server_->Stop();
    api_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Serve(bool allow_private) {
    client_.reset();
    if (server_) server_->Stop();
    server_.reset();
    api_.reset();
    MerchantApiOptions options;
    options.notify_allow_private = allow_private;
    api_ = std::make_unique<ApiUnderTest>(store_.get(), &queue_, &clock_, &random_, &box_, options,
                                          "admin");
    auto server = http::HttpServer::Listen(
        http::HttpServerOptions{}, [this](http::HttpRequest request, http::Responder respond) {
          api_->Handle(std::move(request), std::move(respond));
        });
    ASSERT_TRUE(server.ok());
    server_ = std::move(*server);
    server_->Start();
    client_ = std::make_unique<http::HttpClient>("127.0.0.1", server_->port());
  }

  http::HttpResponse Send(const std::string& method, const std::string& target,
                          const std::string& body = "", const auth::NewMerchantKey* key = nullptr) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (target.starts_with("/v1/admin")) {
      headers.emplace_back("Authorization", "Bearer admin");
    } else {
      const auth::NewMerchantKey& signer = key ? *key : key_;
      headers = auth::SignatureHeaders(signer.key_id, signer.secret, method, target, body,
                                       clock_.NowMs() / 1000, auth::NewNonce());
    }
    auto response = client_->Send(method, target, body, milliseconds(10'000), headers);
    EXPECT_TRUE(response.ok()) << response.status().ToString();
    return response.ok() ? *response : http::HttpResponse{};
  }
  static json::object Body(const http::HttpResponse& response) {
    boost::system::error_code error;
    json::value body = json::parse(response.body, error);
    return !error && body.is_object() ? body.as_object() : json::object{};
  }
  static std::string Code(const http::HttpResponse& response) {
    json::object body = Body(response);
    return body.contains("code") ? json::value_to<std::string>(body["code"]) : "";
  }

  // Places an order of m1 through the API; returns its order id ("" if refused).
  std::string Place(const std::string& merchant_order_id, int face_value,
                    const std::string& notify_url = "") {
    std::string body = R"({"merchant_id":"m1","merchant_order_id":")" + merchant_order_id +
                       R"(","phone":"13800138000","face_value":)" + std::to_string(face_value);
    if (!notify_url.empty()) body += R"(,"notify_url":")" + notify_url + "\"";
    body += "}";
    http::HttpResponse placed = Send("POST", "/v1/orders", body);
    if (placed.status != 201) return "";
    return json::value_to<std::string>(Body(placed)["order_id"]);
  }

  // Drives an open order to `to` directly in the store, as the engine would.
  void Finish(const std::string& order_id, OrderStatus to) {
    Order order = store_->GetOrder(order_id).value();
    Transition start;
    start.order_id = order_id;
    start.from = order.status;
    start.to = OrderStatus::kCharging;
    start.now_ms = clock_.NowMs();
    start.attempt = Transition::Attempt::kStart;
    start.supplier_order_id = SupplierOrderId(order_id, 1);
    start.channel = "sim";
    start.event_kind = "attempt_started";
    ASSERT_TRUE(store_->ApplyTransition(start).value());
    Transition end;
    end.order_id = order_id;
    end.from = OrderStatus::kCharging;
    end.from_attempt_count = 1;
    end.to = to;
    end.now_ms = clock_.NowMs();
    end.attempt =
        to == OrderStatus::kFailed ? Transition::Attempt::kClear : Transition::Attempt::kKeep;
    end.fail_reason = to == OrderStatus::kFailed ? "supplier_failed" : "";
    end.event_kind = "final";
    ASSERT_TRUE(store_->ApplyTransition(end).value());
  }

  std::filesystem::path dir_;
  FakeClock clock_;
  SeededRandom random_{11};
  EmbeddedQueue queue_;
  auth::SecretBox box_ = auth::SecretBox::Ephemeral();
  auth::NewMerchantKey key_;
  auth::NewMerchantKey other_key_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ApiUnderTest> api_;
  std::unique_ptr<http::HttpServer> server_;
  std::unique_ptr<http::HttpClient> client_;
};

TEST_F(AccountRoutesTest, NotifyUrlsToPrivateAddressesAreRefusedAtAcceptance) {
  for (const char* url :
       {"http://127.0.0.1/cb", "http://10.1.2.3/cb", "http://172.20.0.1/cb",
        "http://192.168.1.1/cb", "http://169.254.169.254/latest", "http://100.64.0.1/cb",
        "http://224.0.0.1/cb", "http://0.0.0.0/cb", "http://[::1]/cb", "http://[fe80::1]/cb",
        "http://[fd00::1]/cb", "http://[::ffff:127.0.0.1]/cb", "http://localhost/cb",
        "http://api.LOCALHOST./cb", "https://[ff02::1]/cb"}) {
    std::string body =
        std::string(R"({"merchant_id":"m1","merchant_order_id":"x","phone":"13800138000",)") +
        R"("face_value":10,"notify_url":")" + url + "\"}";
    http::HttpResponse refused = Send("POST", "/v1/orders", body);
    EXPECT_EQ(refused.status, 400) << url;
    EXPECT_EQ(Code(refused), "invalid_notify_url") << url;
  }
  EXPECT_NE(Place("public-name", 10, "https://shop.example/cb"), "");
  EXPECT_NE(Place("public-address", 10, "http://93.184.216.34/cb"), "");
  EXPECT_NE(Place("public-v6", 10, "http://[2001:db8::1]/cb"), "");
  // With --notify-allow-private (tests, demos) the local receiver is fine.
  Serve(true);
  EXPECT_NE(Place("local", 10, "http://127.0.0.1:9/cb"), "");
}

TEST_F(AccountRoutesTest, BalanceAndStatementAgreeWithTheLedger) {
  const std::string open = Place("a1", 10);
  const std::string done = Place("a2", 20);
  const std::string failed = Place("a3", 30);
  ASSERT_FALSE(open.empty() || done.empty() || failed.empty());
  Finish(done, OrderStatus::kSuccess);
  Finish(failed, OrderStatus::kFailed);

  json::object balance = Body(Send("GET", "/v1/balance"));
  const Merchant merchant = store_->GetMerchant("m1").value();
  EXPECT_EQ(balance["balance_fen"].as_int64(), merchant.balance_fen);
  EXPECT_EQ(balance["held_fen"].as_int64(), store_->GetOrder(open)->price_fen);
  EXPECT_EQ(balance["merchant_id"].as_string(), "m1");
  EXPECT_EQ(Body(Send("GET", "/v1/balance", "", &other_key_))["balance_fen"].as_int64(), 100'000);

  // Paged two at a time, the statement is the ledger, and its running balance ends where the
  // balance is.
  std::vector<LedgerEntry> ledger = store_->ListLedger("m1", 0, 100).value();
  ASSERT_EQ(ledger.size(), 5u);  // fund, three debits, a refund
  std::vector<json::value> seen;
  std::string cursor;
  for (int page = 0; page < 5; ++page) {
    http::HttpResponse answer =
        Send("GET", "/v1/ledger?limit=2" + (cursor.empty() ? "" : "&cursor=" + cursor));
    ASSERT_EQ(answer.status, 200) << answer.body;
    json::object body = Body(answer);
    for (const json::value& entry : body["entries"].as_array()) seen.push_back(entry);
    if (body["next_cursor"].is_null()) break;
    cursor = json::value_to<std::string>(body["next_cursor"]);
  }
  ASSERT_EQ(seen.size(), ledger.size());
  int64_t running_fen = 0;
  for (size_t i = 0; i < seen.size(); ++i) {
    const json::object& entry = seen[i].as_object();
    EXPECT_EQ(entry.at("entry_id").as_int64(), ledger[i].entry_id);
    EXPECT_EQ(entry.at("amount_fen").as_int64(), ledger[i].amount_fen);
    running_fen += entry.at("amount_fen").as_int64();
    EXPECT_EQ(entry.at("balance_after_fen").as_int64(), running_fen);
  }
  EXPECT_EQ(running_fen, merchant.balance_fen);
  EXPECT_EQ(seen.back().at("kind").as_string(), "refund");
  EXPECT_EQ(Code(Send("GET", "/v1/ledger?limit=0")), "invalid_query");
  EXPECT_EQ(Code(Send("GET", "/v1/ledger?cursor=x")), "invalid_query");
  EXPECT_EQ(Send("POST", "/v1/balance", "{}").status, 405);
}

TEST_F(AccountRoutesTest, OrdersArePagedAndFiltered) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    clock_.AdvanceMs(1'000);
    ids.push_back(Place("p" + std::to_string(i), 10));
  }
  Finish(ids[1], OrderStatus::kSuccess);
  Finish(ids[3], OrderStatus::kSuccess);
  json::object page = Body(Send("GET", "/v1/orders?limit=3"));
  ASSERT_EQ(page["orders"].as_array().size(), 3u);
  const std::string cursor = json::value_to<std::string>(page["next_cursor"]);
  json::object rest = Body(Send("GET", "/v1/orders?limit=3&cursor=" + cursor));
  EXPECT_EQ(rest["orders"].as_array().size(), 2u);
  EXPECT_TRUE(rest["next_cursor"].is_null());

  json::object succeeded = Body(Send("GET", "/v1/orders?status=success"));
  ASSERT_EQ(succeeded["orders"].as_array().size(), 2u);
  EXPECT_EQ(succeeded["orders"].as_array()[0].at("order_id").as_string(), ids[1]);

  const int64_t from_ms = store_->GetOrder(ids[2])->created_ms;
  const int64_t to_ms = store_->GetOrder(ids[4])->created_ms;
  json::object window = Body(
      Send("GET", "/v1/orders?from=" + std::to_string(from_ms) + "&to=" + std::to_string(to_ms)));
  EXPECT_EQ(window["orders"].as_array().size(), 2u);  // ids[2], ids[3]
  // Another merchant sees none of them; asking for them by name is refused.
  EXPECT_EQ(Body(Send("GET", "/v1/orders", "", &other_key_))["orders"].as_array().size(), 0u);
  EXPECT_EQ(Code(Send("GET", "/v1/orders?merchant_id=m1", "", &other_key_)), "merchant_mismatch");
  EXPECT_EQ(Code(Send("GET", "/v1/orders?status=done")), "invalid_query");
  // The single-order form still answers the one order.
  EXPECT_EQ(Body(Send("GET", "/v1/orders?merchant_order_id=p0"))["order_id"].as_string(), ids[0]);

  json::object admin = Body(Send("GET", "/v1/admin/orders?status=accepted&merchant_id=m1"));
  EXPECT_EQ(admin["orders"].as_array().size(), 3u);
  json::object merchants = Body(Send("GET", "/v1/admin/merchants?limit=1"));
  ASSERT_EQ(merchants["merchants"].as_array().size(), 1u);
  EXPECT_EQ(merchants["next_cursor"].as_string(), "m1");
  merchants = Body(Send("GET", "/v1/admin/merchants?cursor=m1"));
  ASSERT_EQ(merchants["merchants"].as_array().size(), 1u);
  EXPECT_EQ(merchants["merchants"].as_array()[0].at("merchant_id").as_string(), "m2");
}

TEST_F(AccountRoutesTest, NotificationsAreListedAndReSent) {
  Serve(true);
  const std::string id = Place("n1", 10, "http://127.0.0.1:9/cb");
  const std::string silent = Place("n2", 10);
  ASSERT_FALSE(id.empty() || silent.empty());
  Finish(id, OrderStatus::kSuccess);
  Finish(silent, OrderStatus::kSuccess);
  Notification n = store_->ListNotifications(id).value().at(0);
  NotificationOutcome outcome;
  outcome.owner = "node";
  outcome.attempt = NotificationTry{n.notification_id, clock_.NowMs(), 0, "timeout", 5'000};
  ASSERT_EQ(store_->ClaimNotifications("node", clock_.NowMs(), 10'000, 10)->size(), 1u);
  ASSERT_TRUE(store_->RecordNotificationTry(outcome).value());  // given up

  json::object listed = Body(Send("GET", "/v1/admin/orders/" + id + "/notifications"));
  ASSERT_EQ(listed["notifications"].as_array().size(), 1u);
  const json::object& item = listed["notifications"].as_array()[0].as_object();
  EXPECT_EQ(item.at("state").as_string(), "given_up");
  ASSERT_EQ(item.at("attempts").as_array().size(), 1u);
  EXPECT_EQ(item.at("attempts").as_array()[0].at("error").as_string(), "timeout");
  EXPECT_EQ(item.at("attempts").as_array()[0].at("latency_ms").as_int64(), 5'000);

  clock_.AdvanceMs(60'000);
  http::HttpResponse resent =
      Send("POST", "/v1/admin/notifications/" + std::to_string(n.notification_id) + "/resend", "");
  EXPECT_EQ(resent.status, 202) << resent.body;
  EXPECT_EQ(Body(resent)["state"].as_string(), "pending");
  EXPECT_EQ(store_->GetNotification(n.notification_id)->next_try_ms, clock_.NowMs());
  EXPECT_EQ(Code(Send("POST", "/v1/admin/notifications/999/resend", "")), "notification_not_found");

  // The merchant asks for its own again; not for another's, nor for one without a URL.
  http::HttpResponse again = Send("POST", "/v1/orders/" + id + "/notifications/resend", "");
  EXPECT_EQ(again.status, 202) << again.body;
  EXPECT_EQ(Code(Send("POST", "/v1/orders/" + id + "/notifications/resend", "", &other_key_)),
            "order_not_found");
  EXPECT_EQ(Code(Send("POST", "/v1/orders/" + silent + "/notifications/resend", "")),
            "notification_not_found");
  EXPECT_EQ(Send("GET", "/v1/orders/" + id + "/notifications/resend").status, 405);
}

}  // namespace
}  // namespace topup::api
