#include "auth/request_signature.h"

#include <gtest/gtest.h>

#include "auth/constant_time.h"

namespace topup::auth {
namespace {

constexpr std::string_view kSecret =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

TEST(RequestSignatureTest, CanonicalStringIsTheDocumentedOne) {
  EXPECT_EQ(CanonicalRequest("GET", "/v1/orders/o1", "1700000000", "n", ""),
            "GET\n/v1/orders/o1\n1700000000\nn\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

// The figure was computed apart from this code (Python's hmac and hashlib), so the test pins the
// scheme, not this implementation of it.
TEST(RequestSignatureTest, MatchesAnIndependentlyComputedSignature) {
  EXPECT_EQ(RequestSignature(kSecret, "POST", "/v1/orders?x=1", "1700000000",
                             "nonce-0123456789abcdef", R"({"merchant_id":"m1"})"),
            "81d33f935aec0642e7edf6d161fe86e974ca5894acab8b7cd633ce21edb24b99");
}

TEST(RequestSignatureTest, EveryPartOfTheRequestIsSigned) {
  const std::string base = RequestSignature(kSecret, "POST", "/v1/orders", "1", "n", "{}");
  EXPECT_NE(base, RequestSignature(kSecret, "PUT", "/v1/orders", "1", "n", "{}"));
  EXPECT_NE(base, RequestSignature(kSecret, "POST", "/v1/orders?a", "1", "n", "{}"));
  EXPECT_NE(base, RequestSignature(kSecret, "POST", "/v1/orders", "2", "n", "{}"));
  EXPECT_NE(base, RequestSignature(kSecret, "POST", "/v1/orders", "1", "m", "{}"));
  EXPECT_NE(base, RequestSignature(kSecret, "POST", "/v1/orders", "1", "n", "{ }"));
  EXPECT_NE(base, RequestSignature("other", "POST", "/v1/orders", "1", "n", "{}"));
}

TEST(RequestSignatureTest, NonceRules) {
  EXPECT_TRUE(IsValidNonce("abcdefghij_-0123"));
  EXPECT_TRUE(IsValidNonce(std::string(64, 'a')));
  EXPECT_FALSE(IsValidNonce(std::string(15, 'a')));
  EXPECT_FALSE(IsValidNonce(std::string(65, 'a')));
  EXPECT_FALSE(IsValidNonce("abcdefghij0123456+"));
  EXPECT_FALSE(IsValidNonce("abcdefghij 0123456"));
  EXPECT_TRUE(IsValidNonce(NewNonce()));
  EXPECT_NE(NewNonce(), NewNonce());
}

TEST(RequestSignatureTest, SignatureHeadersCarryTheSignatureOfTheirOwnValues) {
  auto headers = SignatureHeaders("k1", kSecret, "GET", "/v1/orders/o1", "", 1700000000,
                                  "nonce-0123456789abcdef");
  ASSERT_EQ(headers.size(), 4u);
  EXPECT_EQ(headers[0], (std::pair<std::string, std::string>{"X-Topup-Key", "k1"}));
  EXPECT_EQ(headers[1].second, "1700000000");
  EXPECT_EQ(headers[2].second, "nonce-0123456789abcdef");
  EXPECT_EQ(headers[3].second, RequestSignature(kSecret, "GET", "/v1/orders/o1", "1700000000",
                                                "nonce-0123456789abcdef", ""));
}

TEST(ConstantTimeTest, SecretsEqualWhateverTheLengths) {
  EXPECT_TRUE(SecretsEqual("token", "token"));
  EXPECT_FALSE(SecretsEqual("token", "tokem"));
  EXPECT_FALSE(SecretsEqual("token", "token-and-more"));
  EXPECT_FALSE(SecretsEqual("", "token"));
  EXPECT_TRUE(SecretsEqual("", ""));
}

}  // namespace
}  // namespace topup::auth
