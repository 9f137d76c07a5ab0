// RequestAuthenticator on a real SQLite store and a fake clock: every way a signature fails.
#include "auth/request_authenticator.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "auth/merchant_keys.h"
#include "auth/request_signature.h"
#include "store/sqlite/sqlite_store.h"

namespace topup::auth {
namespace {

class RequestAuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("topup-auth-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto store = OpenSqliteStore(SqliteStoreOptions{.path = (dir_ / "t.db").string()});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    ASSERT_TRUE(store_->CreateMerchant("m1", "One", clock_.NowMs()).ok());
    Result<NewMerchantKey> key = CreateMerchantKey(*store_, box_, "m1", clock_.NowMs());
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    key_ = *key;
  }
  void TearDown() override {
    authenticator_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  RequestAuthenticator& Authenticator() {
    if (!authenticator_) {
      authenticator_ =
          std::make_unique<RequestAuthenticator>(store_.get(), &box_, &clock_, options_);
    }
    return *authenticator_;
  }

  // A request signed now (or at `timestamp_s`) with `secret`.
  http::HttpRequest Signed(const std::string& method, const std::string& target,
                           const std::string& body, const std::string& key_id,
                           const std::string& secret, int64_t timestamp_s = 0,
                           std::string nonce = "") {
    http::HttpRequest request;
    request.method = method;
    request.target = target;
    http::ParseTarget(target, &request.path, &request.query);
    request.body = body;
    if (nonce.empty()) nonce = NewNonce();
    if (timestamp_s == 0) timestamp_s = clock_.NowMs() / 1000;
    for (auto& [name, value] :
         SignatureHeaders(key_id, secret, method, target, body, timestamp_s, nonce)) {
      std::string lower = name;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      request.headers[lower] = value;
    }
    return request;
  }
  http::HttpRequest Signed(const std::string& method, const std::string& target,
                           const std::string& body = "") {
    return Signed(method, target, body, key_.key_id, key_.secret);
  }

  std::string Reason(const http::HttpRequest& request) {
    Result<std::string> merchant = Authenticator().Authenticate(request);
    return merchant.ok() ? "ok:" + *merchant : merchant.status().reason();
  }

  std::filesystem::path dir_;
  FakeClock clock_;
  SecretBox box_ = SecretBox::Ephemeral();
  RequestAuthenticatorOptions options_;
  std::unique_ptr<Store> store_;
  NewMerchantKey key_;
  std::unique_ptr<RequestAuthenticator> authenticator_;
};

TEST_F(RequestAuthenticatorTest, ASignedRequestNamesTheKeysMerchant) {
  EXPECT_EQ(Reason(Signed("POST", "/v1/orders", R"({"a":1})")), "ok:m1");
  EXPECT_EQ(Reason(Signed("GET", "/v1/orders?merchant_order_id=a%201")), "ok:m1");
}

TEST_F(RequestAuthenticatorTest, MissingOrMalformedHeadersAreMissingSignature) {
  http::HttpRequest unsigned_request;
  unsigned_request.method = "GET";
  unsigned_request.target = unsigned_request.path = "/v1/orders/x";
  EXPECT_EQ(Reason(unsigned_request), "missing_signature");
  for (const char* header :
       {"x-topup-key", "x-topup-timestamp", "x-topup-nonce", "x-topup-signature"}) {
    http::HttpRequest request = Signed("GET", "/v1/orders/x");
    request.headers.erase(header);
    EXPECT_EQ(Reason(request), "missing_signature") << header;
  }
  http::HttpRequest short_nonce = Signed("GET", "/v1/orders/x");
  short_nonce.headers["x-topup-nonce"] = "short";
  EXPECT_EQ(Reason(short_nonce), "missing_signature");
  http::HttpRequest upper = Signed("GET", "/v1/orders/x");
  for (char& c : upper.headers["x-topup-signature"]) c = static_cast<char>(std::toupper(c));
  EXPECT_EQ(Reason(upper), "missing_signature");
}

TEST_F(RequestAuthenticatorTest, UnknownKey) {
  EXPECT_EQ(Reason(Signed("GET", "/v1/orders/x", "", "knope", key_.secret)), "unknown_key");
  EXPECT_EQ(Reason(Signed("GET", "/v1/orders/x", "", "k\xff", key_.secret)), "unknown_key");
}

TEST_F(RequestAuthenticatorTest, TimestampsOutsideTheWindowAreStale) {
  const int64_t now_s = clock_.NowMs() / 1000;
  auto at = [&](int64_t timestamp_s) {
    return Reason(Signed("GET", "/v1/orders/x", "", key_.key_id, key_.secret, timestamp_s));
  };
  EXPECT_EQ(at(now_s - 300), "ok:m1");
  EXPECT_EQ(at(now_s + 300), "ok:m1");
  EXPECT_EQ(at(now_s - 301), "stale_timestamp");
  EXPECT_EQ(at(now_s + 301), "stale_timestamp");
  http::HttpRequest not_a_number = Signed("GET", "/v1/orders/x");
  not_a_number.headers["x-topup-timestamp"] = "17e8";
  EXPECT_EQ(Reason(not_a_number), "stale_timestamp");
  not_a_number.headers["x-topup-timestamp"] = "-1";
  EXPECT_EQ(Reason(not_a_number), "stale_timestamp");
}

TEST_F(RequestAuthenticatorTest, TheWindowIsConfigurable) {
  options_.max_skew_s = 10;
  const int64_t now_s = clock_.NowMs() / 1000;
  EXPECT_EQ(Reason(Signed("GET", "/v1/orders/x", "", key_.key_id, key_.secret, now_s - 10)),
            "ok:m1");
  EXPECT_EQ(Reason(Signed("GET", "/v1/orders/x", "", key_.key_id, key_.secret, now_s - 11)),
            "stale_timestamp");
}

TEST_F(RequestAuthenticatorTest, AnythingChangedAfterSigningIsABadSignature) {
  EXPECT_EQ(Reason(Signed("GET", "/v1/orders/x", "", key_.key_id, std::string(64, 'a'))),
            "bad_signature");
  http::HttpRequest body = Signed("POST", "/v1/orders", R"({"merchant_id":"m1"})");
  body.body = R"({"merchant_id":"m2"})";
  EXPECT_EQ(Reason(body), "bad_signature");
  http::HttpRequest target = Signed("GET", "/v1/orders?merchant_order_id=a");
  target.target = "/v1/orders?merchant_order_id=b";
  EXPECT_EQ(Reason(target), "bad_signature");
  http::HttpRequest method = Signed("GET", "/v1/orders/x");
  method.method = "DELETE";
  EXPECT_EQ(Reason(method), "bad_signature");
  http::HttpRequest timestamp = Signed("GET", "/v1/orders/x");
  timestamp.headers["x-topup-timestamp"] = std::to_string(clock_.NowMs() / 1000 - 1);
  EXPECT_EQ(Reason(timestamp), "bad_signature");
}

TEST_F(RequestAuthenticatorTest, ANonceIsUsedOnceWithinTheWindow) {
  http::HttpRequest request = Signed("POST", "/v1/orders", "{}");
  EXPECT_EQ(Reason(request), "ok:m1");
  EXPECT_EQ(Reason(request), "replayed_nonce");
  clock_.AdvanceMs(299'000);
  EXPECT_EQ(Reason(request), "replayed_nonce");
  // Once the window has passed, the timestamp refuses it.
  clock_.AdvanceMs(2'000);
  EXPECT_EQ(Reason(request), "stale_timestamp");
}

TEST_F(RequestAuthenticatorTest, ABadSignatureDoesNotUseUpTheNonce) {
  const std::string nonce = NewNonce();
  EXPECT_EQ(Reason(Signed("GET", "/v1/orders/x", "", key_.key_id, std::string(64, 'b'), 0, nonce)),
            "bad_signature");
  EXPECT_EQ(Reason(Signed("GET", "/v1/orders/x", "", key_.key_id, key_.secret, 0, nonce)), "ok:m1");
}

TEST_F(RequestAuthenticatorTest, AFullNonceCacheRefusesRatherThanForgets) {
  options_.nonce_capacity = 2;
  EXPECT_EQ(Reason(Signed("GET", "/v1/orders/x")), "ok:m1");
  EXPECT_EQ(Reason(Signed("GET", "/v1/orders/x")), "ok:m1");
  EXPECT_EQ(Reason(Signed("GET", "/v1/orders/x")), "nonce_cache_full");
}

TEST_F(RequestAuthenticatorTest, RevokedKeyRefusedAtOnceHereAndWithinTheCacheTimeElsewhere) {
  EXPECT_EQ(Reason(Signed("GET", "/v1/orders/x")), "ok:m1");
  // Revoked behind this authenticator's back (another node, or the CLI): its cached copy is
  // trusted for key_cache_ms.
  ASSERT_TRUE(store_->RevokeMerchantKey("m1", key_.key_id, clock_.NowMs()).ok());
  EXPECT_EQ(Reason(Signed("GET", "/v1/orders/x")), "ok:m1");
  clock_.AdvanceMs(options_.key_cache_ms);
  EXPECT_EQ(Reason(Signed("GET", "/v1/orders/x")), "key_revoked");

  // Revoked through this process: refused at once.
  Result<NewMerchantKey> second = CreateMerchantKey(*store_, box_, "m1", clock_.NowMs());
  ASSERT_TRUE(second.ok());
  auto with_second = [&] {
    return Reason(Signed("GET", "/v1/orders/x", "", second->key_id, second->secret));
  };
  EXPECT_EQ(with_second(), "ok:m1");
  ASSERT_TRUE(store_->RevokeMerchantKey("m1", second->key_id, clock_.NowMs()).ok());
  Authenticator().Forget(second->key_id);
  EXPECT_EQ(with_second(), "key_revoked");
}

TEST_F(RequestAuthenticatorTest, TheCachedPathNeverReadsTheStoreAndAgreesWithTheFullOne) {
  http::HttpRequest first = Signed("POST", "/v1/orders", "{}");
  EXPECT_FALSE(Authenticator().TryAuthenticateCached(first).has_value());
  EXPECT_EQ(Reason(first), "ok:m1");
  std::optional<Result<std::string>> cached =
      Authenticator().TryAuthenticateCached(Signed("POST", "/v1/orders", "{}"));
  ASSERT_TRUE(cached.has_value());
  ASSERT_TRUE(cached->ok());
  EXPECT_EQ(**cached, "m1");
  // Header failures are answered without a key at all.
  http::HttpRequest bare;
  std::optional<Result<std::string>> refused = Authenticator().TryAuthenticateCached(bare);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status().reason(), "missing_signature");
  // A replay is caught on the cached path too.
  std::optional<Result<std::string>> replay = Authenticator().TryAuthenticateCached(first);
  ASSERT_TRUE(replay.has_value());
  EXPECT_EQ(replay->status().reason(), "replayed_nonce");
}

TEST_F(RequestAuthenticatorTest, AKeySealedUnderAnotherMasterKeyIsRefused) {
  SecretBox other = SecretBox::Ephemeral();
  Result<NewMerchantKey> foreign = CreateMerchantKey(*store_, other, "m1", clock_.NowMs());
  ASSERT_TRUE(foreign.ok());
  Result<std::string> merchant = Authenticator().Authenticate(
      Signed("GET", "/v1/orders/x", "", foreign->key_id, foreign->secret));
  EXPECT_EQ(merchant.status().reason(), "unsealable_secret");
}

}  // namespace
}  // namespace topup::auth
