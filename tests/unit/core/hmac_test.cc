#include "core/hmac.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>

namespace topup {
namespace {

// RFC 4231, test case 2.
constexpr std::string_view kJefeMac =
    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
// RFC 4231, test case 6: a key longer than SHA-256's block.
const std::string kLongKey(131, '\xaa');
constexpr std::string_view kLongKeyMessage =
    "Test Using Larger Than Block-Size Key - Hash Key First";
constexpr std::string_view kLongKeyMac =
    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54";

TEST(HmacTest, MatchesTheRfc4231Vectors) {
  EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"), kJefeMac);
  EXPECT_EQ(HmacSha256Hex(kLongKey, kLongKeyMessage), kLongKeyMac);
}

TEST(HmacTest, AnEmptyKeyAndMessageHaveTheirKnownMac) {
  EXPECT_EQ(HmacSha256Hex("", ""),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

// The thread's context is keyed with the last key: a new key, or the old one back, must rekey it,
// and a repeated message under the same key must not carry the previous one's state.
TEST(HmacTest, KeysThatAlternateOnOneThreadEachGiveTheirOwnMac) {
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"), kJefeMac);
    EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"), kJefeMac);
    EXPECT_EQ(HmacSha256Hex(kLongKey, kLongKeyMessage), kLongKeyMac);
    EXPECT_EQ(HmacSha256Hex("", ""),
              "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
  }
  // A key that is a prefix of the last one is another key.
  EXPECT_NE(HmacSha256Hex("Jef", "what do ya want for nothing?"), kJefeMac);
}

TEST(HmacTest, ThreadsSigningAtOnceEachGetTheRightMac) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 2'000;
  std::vector<int> wrong(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&wrong, t] {
      for (int i = 0; i < kRounds; ++i) {
        const bool jefe = (i + t) % 2 == 0;
        const std::string mac = jefe ? HmacSha256Hex("Jefe", "what do ya want for nothing?")
                                     : HmacSha256Hex(kLongKey, kLongKeyMessage);
        if (mac != (jefe ? kJefeMac : kLongKeyMac)) wrong[t]++;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(wrong[t], 0) << "thread " << t;
}

TEST(HmacTest, ConstantTimeEqualsComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

}  // namespace
}  // namespace topup
