// The load generator's merchant receiver: it acknowledges what the merchant's key signed, refuses
// forged, stale and replayed notifications, counts repeats, and misbehaves in its fault windows.
#include "loadgen/merchant_receiver.h"

#include <gtest/gtest.h>

#include <thread>

#include "auth/request_signature.h"
#include "http/async_http_client.h"
#include "http/http_client.h"
#include "topup/clock.h"

namespace topup::loadgen {
namespace {

using std::chrono::milliseconds;

constexpr char kKeyId[] = "key-1";
constexpr char kSecret[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
constexpr char kBody[] = R"({"order_id":"T1","merchant_order_id":"mo-1","status":"success"})";

http::HttpHeaders Signed(const std::string& secret, int64_t at_s, const std::string& nonce) {
  return auth::SignatureHeaders(kKeyId, secret, "POST", "/notify", kBody, at_s, nonce);
}

int Post(http::HttpClient& client, const http::HttpHeaders& headers) {
  Result<http::HttpResponse> answer =
      client.Send("POST", "/notify", kBody, milliseconds(2'000), headers);
  return answer.ok() ? answer->status : 0;
}

TEST(MerchantReceiverTest, AcknowledgesGoodSignaturesAndRefusesForgedStaleAndReplayed) {
  Result<std::unique_ptr<MerchantReceiver>> receiver =
      MerchantReceiver::Start({.key_id = kKeyId, .secret = kSecret});
  ASSERT_TRUE(receiver.ok()) << receiver.status().ToString();
  http::HttpClient client("127.0.0.1", (*receiver)->port());
  const int64_t now_s = SystemClock()->NowMs() / 1000;

  const http::HttpHeaders good = Signed(kSecret, now_s, auth::NewNonce());
  EXPECT_EQ(Post(client, good), 200);
  EXPECT_EQ(Post(client, good), 401);  // the same nonce again: a replay
  EXPECT_EQ(Post(client, Signed(std::string(64, 'f'), now_s, auth::NewNonce())), 401);
  EXPECT_EQ(Post(client, Signed(kSecret, now_s - 3'600, auth::NewNonce())), 401);
  EXPECT_EQ(Post(client, Signed(kSecret, now_s, auth::NewNonce())), 200);  // sent again

  const ReceivedNotifications received = (*receiver)->Snapshot();
  EXPECT_EQ(received.acknowledged, 2);
  EXPECT_EQ(received.duplicated, 1);
  EXPECT_EQ(received.bad_signatures, 3);
  ASSERT_EQ(received.first_acknowledged_ms.size(), 1u);
  EXPECT_EQ(received.first_acknowledged_ms.begin()->first, "T1 success");
  EXPECT_EQ((*receiver)->acknowledged_distinct(), 1);
}

TEST(MerchantReceiverTest, FailsThenHangsInItsWindowsThenAcknowledges) {
  Result<std::unique_ptr<MerchantReceiver>> receiver = MerchantReceiver::Start(
      {.key_id = kKeyId,
       .secret = kSecret,
       .faults = {{.kind = ReceiverFault::Kind::kFail, .from_ms = 0, .until_ms = 1'000},
                  {.kind = ReceiverFault::Kind::kHang, .from_ms = 1'000, .until_ms = 2'000}}});
  ASSERT_TRUE(receiver.ok()) << receiver.status().ToString();
  const int64_t now_s = SystemClock()->NowMs() / 1000;
  http::HttpClient failing("127.0.0.1", (*receiver)->port());
  EXPECT_EQ(Post(failing, Signed(kSecret, now_s, auth::NewNonce())), 503);
  std::this_thread::sleep_for(milliseconds(1'100));  // into the hang window, which is timed
  http::HttpClient hanging("127.0.0.1", (*receiver)->port());
  Result<http::HttpResponse> held = hanging.Send("POST", "/notify", kBody, milliseconds(500),
                                                 Signed(kSecret, now_s, auth::NewNonce()));
  ASSERT_FALSE(held.ok());
  EXPECT_EQ(held.status().reason(), "timeout");
  std::this_thread::sleep_for(milliseconds(1'000));  // past both windows
  http::HttpClient healthy("127.0.0.1", (*receiver)->port());
  EXPECT_EQ(Post(healthy, Signed(kSecret, now_s, auth::NewNonce())), 200);
  const ReceivedNotifications received = (*receiver)->Snapshot();
  EXPECT_EQ(received.failed_on_purpose, 1);
  EXPECT_EQ(received.hung_on_purpose, 1);
  EXPECT_EQ(received.acknowledged, 1);
  EXPECT_EQ(received.duplicated, 0);
}

}  // namespace
}  // namespace topup::loadgen
