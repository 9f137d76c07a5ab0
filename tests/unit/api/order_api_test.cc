// The merchant API over real HTTP on 127.0.0.1, on a real SQLite store.
#include "api_under_test.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <filesystem>
#include <thread>

#include "auth/merchant_keys.h"
#include "auth/request_signature.h"
#include "http/http_client.h"
#include "queue/embedded/embedded_queue.h"
#include "store/sqlite/sqlite_store.h"

namespace topup::api {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;

class OrderApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("topup-api-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto store = OpenSqliteStore(SqliteStoreOptions{.path = (dir_ / "t.db").string()});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    ASSERT_TRUE(store_->CreateMerchant("m1", "Shop", clock_.NowMs()).ok());
    ASSERT_TRUE(store_->FundMerchant("m1", 10'000, "", clock_.NowMs()).ok());  // 100 yuan
    Result<auth::NewMerchantKey> key = auth::CreateMerchantKey(*store_, box_, "m1", clock_.NowMs());
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    key_ = *key;

    MerchantApiOptions options;
    api_ = std::make_unique<ApiUnderTest>(store_.get(), &queue_, &clock_, &random_, &box_, options,
                                          "secret-token");
    auto server = http::HttpServer::Listen(
        http::HttpServerOptions{}, [this](http::HttpRequest request, http::Responder respond) {
          api_->Handle(std::move(request), std::move(respond));
        });
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    server_->Start();
    client_ = std::make_unique<http::HttpClient>("127.0.0.1", server_->port());
  }
  void TearDown() override {
    client_.reset();
    if (server_) server_->Stop();
    api_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Admin requests carry the token; every other one is signed with m1's key.
  http::HttpResponse Send(const std::string& method, const std::string& target,
                          const std::string& body = "", const std::string& admin_token = "") {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!admin_token.empty()) {
      headers.emplace_back("Authorization", "Bearer " + admin_token);
    } else if (!target.starts_with("/v1/admin")) {
      headers = SignedHeaders(key_, method, target, body);
    }
    return SendWithHeaders(method, target, body, headers);
  }
  http::HttpResponse SendAs(const auth::NewMerchantKey& key, const std::string& method,
                            const std::string& target, const std::string& body = "") {
    return SendWithHeaders(method, target, body, SignedHeaders(key, method, target, body));
  }
  http::HttpResponse SendWithHeaders(
      const std::string& method, const std::string& target, const std::string& body,
      const std::vector<std::pair<std::string, std::string>>& headers) {
    auto response = client_->Send(method, target, body, milliseconds(10'000), headers);
    EXPECT_TRUE(response.ok()) << response.status().ToString();
    return response.ok() ? *response : http::HttpResponse{};
  }
  std::vector<std::pair<std::string, std::string>> SignedHeaders(const auth::NewMerchantKey& key,
                                                                 const std::string& method,
                                                                 const std::string& target,
                                                                 const std::string& body) {
    return auth::SignatureHeaders(key.key_id, key.secret, method, target, body,
                                  clock_.NowMs() / 1000, auth::NewNonce());
  }
  // A new key of `merchant_id` through the admin endpoint.
  auth::NewMerchantKey AddKey(const std::string& merchant_id) {
    http::HttpResponse made =
        Send("POST", "/v1/admin/merchants/" + merchant_id + "/keys", "", "secret-token");
    EXPECT_EQ(made.status, 201) << made.body;
    json::object body = Body(made);
    if (!body.contains("secret")) return {};
    return auth::NewMerchantKey{.key_id = json::value_to<std::string>(body["key_id"]),
                                .secret = json::value_to<std::string>(body["secret"]),
                                .created_ms = body["created_ms"].as_int64()};
  }
  static json::object Body(const http::HttpResponse& response) {
    boost::system::error_code error;
    json::value value = json::parse(response.body, error);
    EXPECT_FALSE(error) << response.body;
    return value.is_object() ? value.as_object() : json::object{};
  }
  static std::string Code(const http::HttpResponse& response) {
    json::object body = Body(response);
    EXPECT_TRUE(body.contains("message")) << response.body;
    return body.contains("code") ? json::value_to<std::string>(body["code"]) : "";
  }
  // An order of m1 with `notify_url` spliced into the JSON as it is (escapes included).
  static std::string WithNotifyUrl(const std::string& raw_json_url) {
    return R"({"merchant_id":"m1","merchant_order_id":"n","phone":"13800138000","face_value":10,)"
           R"("notify_url":")" +
           raw_json_url + R"("})";
  }
  static std::string Order(const std::string& merchant_order_id, const std::string& phone,
                           int face_value) {
    return json::serialize(json::object{{"merchant_id", "m1"},
                                        {"merchant_order_id", merchant_order_id},
                                        {"phone", phone},
                                        {"face_value", face_value}});
  }

  std::filesystem::path dir_;
  FakeClock clock_;
  auth::SecretBox box_ = auth::SecretBox::Ephemeral();
  auth::NewMerchantKey key_;
  SeededRandom random_{42};
  EmbeddedQueue queue_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ApiUnderTest> api_;
  std::unique_ptr<http::HttpServer> server_;
  std::unique_ptr<http::HttpClient> client_;
};

TEST_F(OrderApiTest, CreatesAnOrderDurablyAndQueuesIt) {
  http::HttpResponse created = Send("POST", "/v1/orders", Order("a1", "13800138000", 50));
  ASSERT_EQ(created.status, 201) << created.body;
  json::object body = Body(created);
  std::string order_id = json::value_to<std::string>(body["order_id"]);
  EXPECT_EQ(body["status"], "accepted");
  EXPECT_EQ(body["carrier"], "china_mobile");
  EXPECT_EQ(body["price_fen"], 5000);
  EXPECT_EQ(body["deadline_ms"].as_int64() - body["created_ms"].as_int64(), 180'000);
  // Published to the queue soon after the answer (by the API's publisher thread).
  Result<std::vector<Delivery>> queued = queue_.Receive(10, std::chrono::seconds(10));
  ASSERT_TRUE(queued.ok());
  ASSERT_EQ(queued->size(), 1u);
  EXPECT_EQ(queued->front().order_id, order_id);
  // Durable: it is in the store, and the merchant paid for it.
  EXPECT_TRUE(store_->GetOrder(order_id).ok());
  EXPECT_EQ(store_->GetMerchant("m1")->balance_fen, 5000);

  http::HttpResponse by_id = Send("GET", "/v1/orders/" + order_id);
  EXPECT_EQ(by_id.status, 200);
  EXPECT_EQ(Body(by_id)["order_id"], order_id.c_str());
  http::HttpResponse by_ref = Send("GET", "/v1/orders?merchant_id=m1&merchant_order_id=a1");
  EXPECT_EQ(by_ref.status, 200);
  EXPECT_EQ(Body(by_ref)["order_id"], order_id.c_str());
  http::HttpResponse events = Send("GET", "/v1/orders/" + order_id + "/events");
  EXPECT_EQ(events.status, 200);
  EXPECT_EQ(Body(events)["events"].as_array().size(), 1u);
}

TEST_F(OrderApiTest, SameRequestTwiceIsTheSameOrderDifferentIsAConflict) {
  http::HttpResponse first = Send("POST", "/v1/orders", Order("a1", "13800138000", 50));
  ASSERT_EQ(first.status, 201);
  http::HttpResponse again = Send("POST", "/v1/orders", Order("a1", "13800138000", 50));
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(Body(again)["order_id"], Body(first)["order_id"]);
  http::HttpResponse different = Send("POST", "/v1/orders", Order("a1", "13800138001", 50));
  EXPECT_EQ(different.status, 409);
  EXPECT_EQ(Code(different), "merchant_order_id_conflict");
  EXPECT_EQ(store_->GetMerchant("m1")->balance_fen, 5000);  // debited once
}

TEST_F(OrderApiTest, BadInputGetsAClearErrorAndWritesNothing) {
  struct Case {
    std::string body;
    int status;
    std::string code;
  };
  std::vector<Case> cases = {
      {"{not json", 400, "malformed_json"},
      {"[1,2]", 400, "malformed_json"},
      {R"({"merchant_id":"m1","phone":"13800138000","face_value":50})", 400, "missing_field"},
      {R"({"merchant_id":"m1","merchant_order_id":"x","face_value":50})", 400, "missing_field"},
      {R"({"merchant_id":"m1","merchant_order_id":"x","phone":"13800138000"})", 400,
       "missing_field"},
      {R"({"merchant_id":"m1","merchant_order_id":"x","phone":13800138000,"face_value":50})", 400,
       "invalid_field_type"},
      {R"({"merchant_id":"m1","merchant_order_id":"x","phone":"13800138000","face_value":"50"})",
       400, "invalid_field_type"},
      {R"({"merchant_id":"bad id","merchant_order_id":"x","phone":"13800138000","face_value":50})",
       400, "invalid_merchant_id"},
      {Order("bad order id", "13800138000", 50), 400, "invalid_merchant_order_id"},
      {Order(std::string(65, 'a'), "13800138000", 50), 400, "invalid_merchant_order_id"},
      {WithNotifyUrl("https://shop.example/" + std::string(500, 'a')), 400, "invalid_notify_url"},
      {Order("x", "12800138000", 50), 400, "invalid_phone"},
      {Order("x", "1380013800", 50), 400, "invalid_phone"},
      {Order("x", "13800138000", 40), 400, "unsupported_face_value"},
      {R"({"merchant_id":"nobody","merchant_order_id":"x","phone":"13800138000","face_value":50})",
       403, "merchant_mismatch"},
      {Order("x", "13800138000", 200), 422, "insufficient_balance"},
      // The last of two equal keys would win in a lenient parser: refused instead.
      {R"({"merchant_id":"m1","merchant_id":"m2","merchant_order_id":"x","phone":"13800138000",)"
       R"("face_value":50})",
       400, "duplicate_json_key"},
      {R"({"merchant_id":"m1","merchant_order_id":"x","phone":"13800138000","face_value":50,)"
       R"("extra":{"a":1,"a":2}})",
       400, "duplicate_json_key"},
      {WithNotifyUrl("http://"), 400, "invalid_notify_url"},
      {WithNotifyUrl("http:///path"), 400, "invalid_notify_url"},
      {WithNotifyUrl(R"(http://shop.example/cb\r\nX-Injected: 1)"), 400, "invalid_notify_url"},
      {WithNotifyUrl(R"(http://shop.example/cb\u0000)"), 400, "invalid_notify_url"},
      {WithNotifyUrl("http://shop.example/a b"), 400, "invalid_notify_url"},
      {WithNotifyUrl("http://user:pw@shop.example/cb"), 400, "invalid_notify_url"},
      {WithNotifyUrl("http://shop.example:0/cb"), 400, "invalid_notify_url"},
      {WithNotifyUrl("http://shop.example:99999/cb"), 400, "invalid_notify_url"},
      {WithNotifyUrl("ftp://shop.example/cb"), 400, "invalid_notify_url"},
      {WithNotifyUrl("shop.example/cb"), 400, "invalid_notify_url"},
  };
  for (const Case& c : cases) {
    http::HttpResponse response = Send("POST", "/v1/orders", c.body);
    EXPECT_EQ(response.status, c.status) << c.body << " -> " << response.body;
    EXPECT_EQ(Code(response), c.code) << c.body;
  }
  http::HttpResponse too_large = Send("POST", "/v1/orders", std::string(200'000, 'x'));
  EXPECT_EQ(too_large.status, 413);
  EXPECT_EQ(Code(too_large), "body_too_large");
  http::HttpResponse headers_too_large =
      SendWithHeaders("GET", "/v1/orders/x", "", {{"X-Padding", std::string(20'000, 'p')}});
  EXPECT_EQ(headers_too_large.status, 431);
  EXPECT_EQ(Code(headers_too_large), "headers_too_large");
  EXPECT_EQ(Send("GET", "/v1/orders/nope").status, 404);
  EXPECT_EQ(Send("GET", "/v1/nothing").status, 404);
  EXPECT_EQ(Send("DELETE", "/v1/orders/x").status, 405);
  // Nothing was written and nothing was charged.
  EXPECT_EQ(store_->GetMerchant("m1")->balance_fen, 10'000);
  EXPECT_TRUE(store_->ListOrders("", 10)->empty());
  EXPECT_EQ(queue_.size(), 0u);
}

TEST_F(OrderApiTest, AWellFormedNotifyUrlIsKept) {
  int n = 0;
  for (const std::string& url :
       {std::string("https://shop.example/cb?order=1&x=%20"),
        std::string("http://93.184.216.34:8080"), std::string("http://[2001:db8::1]:9000/cb")}) {
    ++n;
    http::HttpResponse created =
        Send("POST", "/v1/orders",
             json::serialize(json::object{{"merchant_id", "m1"},
                                          {"merchant_order_id", "u" + std::to_string(n)},
                                          {"phone", "13800138000"},
                                          {"face_value", 10},
                                          {"notify_url", url}}));
    ASSERT_EQ(created.status, 201) << url << " " << created.body;
    EXPECT_EQ(Body(created)["notify_url"], url.c_str());
  }
}

TEST_F(OrderApiTest, AdminBodiesRefuseDuplicateKeysToo) {
  http::HttpResponse response = Send("POST", "/v1/admin/merchants/m1/fund",
                                     R"({"amount_fen":1,"amount_fen":900000})", "secret-token");
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(Code(response), "duplicate_json_key");
  EXPECT_EQ(store_->GetMerchant("m1")->balance_fen, 10'000);
}

TEST_F(OrderApiTest, HealthAndAdmin) {
  EXPECT_EQ(Send("GET", "/healthz").status, 200);
  EXPECT_EQ(Send("POST", "/v1/admin/merchants", R"({"merchant_id":"m2"})").status, 401);
  EXPECT_EQ(Send("POST", "/v1/admin/merchants", R"({"merchant_id":"m2"})", "wrong-token").status,
            401);
  http::HttpResponse created =
      Send("POST", "/v1/admin/merchants", R"({"merchant_id":"m2","name":"Two"})", "secret-token");
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(Body(created)["balance_fen"], 0);
  http::HttpResponse again =
      Send("POST", "/v1/admin/merchants", R"({"merchant_id":"m2"})", "secret-token");
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(Code(again), "merchant_exists");
  http::HttpResponse funded =
      Send("POST", "/v1/admin/merchants/m2/fund", R"({"amount_fen":2500})", "secret-token");
  ASSERT_EQ(funded.status, 200) << funded.body;
  EXPECT_EQ(Body(funded)["balance_fen"], 2500);
  EXPECT_EQ(
      Code(Send("POST", "/v1/admin/merchants/m2/fund", R"({"amount_fen":-5})", "secret-token")),
      "invalid_amount");
  EXPECT_EQ(Send("GET", "/v1/admin/merchants/m2", "", "secret-token").status, 200);
  http::HttpResponse audit = Send("GET", "/v1/admin/audit", "", "secret-token");
  ASSERT_EQ(audit.status, 200);
  EXPECT_EQ(Body(audit)["balanced"], true);
  EXPECT_EQ(Body(audit)["funded_fen"], 12'500);
}

TEST_F(OrderApiTest, EveryMerchantRouteRefusesUnsignedRequests) {
  ASSERT_EQ(Send("POST", "/v1/orders", Order("a1", "13800138000", 50)).status, 201);
  for (auto [method, target] : std::vector<std::pair<std::string, std::string>>{
           {"POST", "/v1/orders"},
           {"GET", "/v1/orders/x"},
           {"GET", "/v1/orders/x/events"},
           {"GET", "/v1/orders?merchant_order_id=a1"},
           {"GET", "/v1/orders?merchant_id=m1&merchant_order_id=a1"},
           {"DELETE", "/v1/orders/x"}}) {
    http::HttpResponse response =
        SendWithHeaders(method, target, method == "POST" ? Order("a2", "13800138000", 10) : "", {});
    EXPECT_EQ(response.status, 401) << method << " " << target;
    EXPECT_EQ(Code(response), "missing_signature") << method << " " << target;
  }
  EXPECT_EQ(store_->GetMerchant("m1")->balance_fen, 5000);  // only the signed order
}

TEST_F(OrderApiTest, EachSignatureFailureHasItsOwnCode) {
  const std::string body = Order("a1", "13800138000", 50);
  auto code_of = [&](const std::vector<std::pair<std::string, std::string>>& headers) {
    http::HttpResponse response = SendWithHeaders("POST", "/v1/orders", body, headers);
    EXPECT_EQ(response.status, 401) << response.body;
    return Code(response);
  };
  auth::NewMerchantKey unknown = key_;
  unknown.key_id = "k000000000000000000000000";
  EXPECT_EQ(code_of(SignedHeaders(unknown, "POST", "/v1/orders", body)), "unknown_key");
  auth::NewMerchantKey wrong_secret = key_;
  wrong_secret.secret = std::string(64, '0');
  EXPECT_EQ(code_of(SignedHeaders(wrong_secret, "POST", "/v1/orders", body)), "bad_signature");
  EXPECT_EQ(code_of(SignedHeaders(key_, "POST", "/v1/orders?x=1", body)), "bad_signature");
  EXPECT_EQ(code_of(auth::SignatureHeaders(key_.key_id, key_.secret, "POST", "/v1/orders", body,
                                           clock_.NowMs() / 1000 - 301, auth::NewNonce())),
            "stale_timestamp");
  EXPECT_EQ(code_of(auth::SignatureHeaders(key_.key_id, key_.secret, "POST", "/v1/orders", body,
                                           clock_.NowMs() / 1000 + 301, auth::NewNonce())),
            "stale_timestamp");
  std::vector<std::pair<std::string, std::string>> once =
      SignedHeaders(key_, "POST", "/v1/orders", body);
  EXPECT_EQ(SendWithHeaders("POST", "/v1/orders", body, once).status, 201);
  EXPECT_EQ(code_of(once), "replayed_nonce");
  // Reads are signed the same way, with the empty body's hash.
  std::vector<std::pair<std::string, std::string>> read =
      SignedHeaders(key_, "GET", "/v1/orders?merchant_order_id=a1", "");
  EXPECT_EQ(SendWithHeaders("GET", "/v1/orders?merchant_order_id=a1", "", read).status, 200);
  http::HttpResponse replayed_read =
      SendWithHeaders("GET", "/v1/orders?merchant_order_id=a1", "", read);
  EXPECT_EQ(replayed_read.status, 401);
  EXPECT_EQ(Code(replayed_read), "replayed_nonce");
  // Revoked through the admin endpoint: refused from the next request on.
  ASSERT_EQ(Send("DELETE", "/v1/admin/merchants/m1/keys/" + key_.key_id, "", "secret-token").status,
            200);
  EXPECT_EQ(code_of(SignedHeaders(key_, "POST", "/v1/orders", body)), "key_revoked");
  EXPECT_EQ(store_->GetMerchant("m1")->balance_fen, 5000);  // one order, charged once
}

TEST_F(OrderApiTest, AMerchantOrdersOnlyForItselfAndSeesOnlyItsOwnOrders) {
  ASSERT_EQ(Send("POST", "/v1/admin/merchants", R"({"merchant_id":"m2"})", "secret-token").status,
            201);
  ASSERT_EQ(
      Send("POST", "/v1/admin/merchants/m2/fund", R"({"amount_fen":10000})", "secret-token").status,
      200);
  auth::NewMerchantKey m2 = AddKey("m2");
  http::HttpResponse mine = Send("POST", "/v1/orders", Order("a1", "13800138000", 50));
  ASSERT_EQ(mine.status, 201);
  const std::string order_id = json::value_to<std::string>(Body(mine)["order_id"]);

  // m2's key cannot spend m1's money.
  http::HttpResponse spend = SendAs(m2, "POST", "/v1/orders", Order("b1", "13800138000", 50));
  EXPECT_EQ(spend.status, 403);
  EXPECT_EQ(Code(spend), "merchant_mismatch");
  EXPECT_EQ(store_->GetMerchant("m1")->balance_fen, 5000);
  EXPECT_EQ(store_->GetMerchant("m2")->balance_fen, 10'000);

  // m1's order is, to m2, an order that does not exist.
  http::HttpResponse absent = SendAs(m2, "GET", "/v1/orders/nope");
  for (const std::string& target : {"/v1/orders/" + order_id, "/v1/orders/" + order_id + "/events",
                                    std::string("/v1/orders?merchant_order_id=a1")}) {
    http::HttpResponse other = SendAs(m2, "GET", target);
    EXPECT_EQ(other.status, 404) << target;
    EXPECT_EQ(Code(other), "order_not_found") << target;
    EXPECT_EQ(other.body, absent.body) << target;
  }
  http::HttpResponse named = SendAs(m2, "GET", "/v1/orders?merchant_id=m1&merchant_order_id=a1");
  EXPECT_EQ(named.status, 403);
  EXPECT_EQ(Code(named), "merchant_mismatch");
  // m1 still sees it.
  EXPECT_EQ(Send("GET", "/v1/orders/" + order_id).status, 200);
  EXPECT_EQ(Send("GET", "/v1/orders?merchant_id=m1&merchant_order_id=a1").status, 200);
}

TEST_F(OrderApiTest, KeyRotationTheOldKeyWorksUntilRevoked) {
  auth::NewMerchantKey second = AddKey("m1");
  ASSERT_FALSE(second.secret.empty());
  EXPECT_NE(second.key_id, key_.key_id);
  // Two active keys, both good.
  EXPECT_EQ(Send("POST", "/v1/orders", Order("a1", "13800138000", 10)).status, 201);
  EXPECT_EQ(SendAs(second, "POST", "/v1/orders", Order("a2", "13800138000", 10)).status, 201);
  // No third.
  http::HttpResponse third = Send("POST", "/v1/admin/merchants/m1/keys", "", "secret-token");
  EXPECT_EQ(third.status, 422);
  EXPECT_EQ(Code(third), "too_many_keys");
  // The list shows both, and neither secret.
  http::HttpResponse listed = Send("GET", "/v1/admin/merchants/m1/keys", "", "secret-token");
  ASSERT_EQ(listed.status, 200);
  EXPECT_EQ(Body(listed)["keys"].as_array().size(), 2u);
  EXPECT_EQ(listed.body.find(key_.secret), std::string::npos);
  EXPECT_EQ(listed.body.find(second.secret), std::string::npos);
  EXPECT_EQ(listed.body.find("secret"), std::string::npos);
  // The old key works until it is revoked, then only the new one does.
  EXPECT_EQ(Send("POST", "/v1/orders", Order("a3", "13800138000", 10)).status, 201);
  http::HttpResponse revoked =
      Send("DELETE", "/v1/admin/merchants/m1/keys/" + key_.key_id, "", "secret-token");
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  EXPECT_EQ(Body(revoked)["active"], false);
  EXPECT_EQ(Code(Send("POST", "/v1/orders", Order("a4", "13800138000", 10))), "key_revoked");
  EXPECT_EQ(SendAs(second, "POST", "/v1/orders", Order("a4", "13800138000", 10)).status, 201);
  // Another merchant's key, or none, cannot be revoked through this merchant.
  EXPECT_EQ(
      Send("DELETE", "/v1/admin/merchants/m2/keys/" + second.key_id, "", "secret-token").status,
      404);
  // With a slot free again, a new key can be made.
  EXPECT_FALSE(AddKey("m1").secret.empty());
}

TEST_F(OrderApiTest, AdminKeyEndpointsNeedTheToken) {
  EXPECT_EQ(Send("POST", "/v1/admin/merchants/m1/keys").status, 401);
  EXPECT_EQ(Send("GET", "/v1/admin/merchants/m1/keys").status, 401);
  EXPECT_EQ(Send("DELETE", "/v1/admin/merchants/m1/keys/" + key_.key_id).status, 401);
  EXPECT_EQ(Code(Send("POST", "/v1/admin/merchants/nobody/keys", "", "secret-token")),
            "unknown_merchant");
  EXPECT_EQ(Send("GET", "/v1/admin/merchants/m1/keys", "", "secret-token").status, 200);
}

TEST_F(OrderApiTest, TheAdminTokenIsComparedWhateverItsLength) {
  for (const std::string& token :
       {std::string("s"), std::string("secret-toke"), std::string("secret-token-and-more"),
        std::string("SECRET-TOKEN"), std::string(4000, 'x')}) {
    http::HttpResponse response = Send("GET", "/v1/admin/audit", "", token);
    EXPECT_EQ(response.status, 401) << token.size();
    EXPECT_EQ(Code(response), "bad_admin_token");
  }
  EXPECT_EQ(
      SendWithHeaders("GET", "/v1/admin/audit", "", {{"Authorization", "secret-token"}}).status,
      401);
  EXPECT_EQ(Send("GET", "/v1/admin/audit", "", "secret-token").status, 200);
}

TEST_F(OrderApiTest, TheAdminChangesTheLogLevelAtRunTime) {
  const spdlog::level::level_enum before = spdlog::get_level();
  EXPECT_EQ(Send("PUT", "/v1/admin/log-level", R"({"level":"debug"})").status, 401);
  http::HttpResponse changed =
      Send("PUT", "/v1/admin/log-level", R"({"level":"debug"})", "secret-token");
  EXPECT_EQ(changed.status, 200) << changed.body;
  EXPECT_EQ(changed.body, R"({"level":"debug"})");
  EXPECT_EQ(spdlog::get_level(), spdlog::level::debug);
  EXPECT_EQ(Send("GET", "/v1/admin/log-level", "", "secret-token").body, R"({"level":"debug"})");
  EXPECT_EQ(Send("PUT", "/v1/admin/log-level", R"({"level":"warn"})", "secret-token").status, 200);
  EXPECT_EQ(spdlog::get_level(), spdlog::level::warn);
  EXPECT_EQ(Code(Send("PUT", "/v1/admin/log-level", R"({"level":"loud"})", "secret-token")),
            "invalid_log_level");
  EXPECT_EQ(Code(Send("PUT", "/v1/admin/log-level", "{}", "secret-token")), "missing_field");
  EXPECT_EQ(Send("POST", "/v1/admin/log-level", "{}", "secret-token").status, 405);
  EXPECT_EQ(spdlog::get_level(), spdlog::level::warn);  // refused requests changed nothing
  spdlog::set_level(before);
}

TEST_F(OrderApiTest, ErrorsNeverEchoThePath) {
  for (const std::string& target :
       {std::string("/v1/%3Cscript%3E"), std::string("/v1/<script>alert(1)</script>"),
        std::string("/v1/\"quoted\"\\"), std::string("/v1/admin/%00%0d%0a")}) {
    http::HttpResponse response = Send("GET", target, "", "secret-token");
    EXPECT_EQ(response.status, 404) << target;
    EXPECT_EQ(Code(response), "no_such_route");
    EXPECT_EQ(response.body.find("script"), std::string::npos) << response.body;
    EXPECT_EQ(response.body.find("quoted"), std::string::npos) << response.body;
  }
}

TEST_F(OrderApiTest, AMerchantOverItsRateGets429WithRetryAfter) {
  MerchantApiOptions options;
  options.merchant_rates["m1"] = RateLimit{.rate_per_s = 0.5, .burst = 2};
  api_ = std::make_unique<ApiUnderTest>(store_.get(), &queue_, &clock_, &random_, &box_, options,
                                        "secret-token");
  EXPECT_EQ(Send("POST", "/v1/orders", Order("a1", "13800138000", 10)).status, 201);
  EXPECT_EQ(Send("GET", "/v1/orders?merchant_order_id=a1").status, 200);
  for (const auto& [method, target] : std::vector<std::pair<std::string, std::string>>{
           {"POST", "/v1/orders"}, {"GET", "/v1/orders?merchant_order_id=a1"}}) {
    http::HttpResponse limited =
        Send(method, target, method == "POST" ? Order("a2", "13800138000", 10) : "");
    EXPECT_EQ(limited.status, 429) << target;
    EXPECT_EQ(Code(limited), "rate_limited");
    ASSERT_EQ(limited.headers.size(), 1u) << limited.body;
    EXPECT_EQ(limited.headers[0], (std::pair<std::string, std::string>{"Retry-After", "2"}));
  }
  // Unsigned requests are refused before they can use up the merchant's tokens.
  EXPECT_EQ(SendWithHeaders("GET", "/v1/orders/x", "", {}).status, 401);
  clock_.AdvanceMs(2'000);
  EXPECT_EQ(Send("POST", "/v1/orders", Order("a2", "13800138000", 10)).status, 201);
  EXPECT_EQ(store_->GetMerchant("m1")->balance_fen, 8'000);
}

}  // namespace
}  // namespace topup::api
