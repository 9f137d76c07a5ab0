#include "auth/nonce_cache.h"

#include <gtest/gtest.h>

namespace topup::auth {
namespace {

using Outcome = NonceCache::Outcome;

TEST(NonceCacheTest, ANonceIsFreshOncePerKeyUntilItExpires) {
  NonceCache cache(100);
  EXPECT_EQ(cache.Record("k1", "n1", /*expires_s=*/1300, /*now_s=*/1000), Outcome::kFresh);
  EXPECT_EQ(cache.Record("k1", "n1", 1310, 1010), Outcome::kReplayed);
  // The same nonce under another key is another entry.
  EXPECT_EQ(cache.Record("k2", "n1", 1300, 1010), Outcome::kFresh);
  // Kept through its expiry second, forgotten after it.
  EXPECT_EQ(cache.Record("k1", "n1", 1600, 1300), Outcome::kReplayed);
  EXPECT_EQ(cache.Record("k1", "n1", 1601, 1301), Outcome::kFresh);
}

TEST(NonceCacheTest, FullRefusesInsteadOfForgettingEarly) {
  NonceCache cache(3);
  EXPECT_EQ(cache.Record("k", "a", 2000, 1000), Outcome::kFresh);
  EXPECT_EQ(cache.Record("k", "b", 1500, 1000), Outcome::kFresh);
  EXPECT_EQ(cache.Record("k", "c", 2000, 1000), Outcome::kFresh);
  EXPECT_EQ(cache.Record("k", "d", 2000, 1000), Outcome::kFull);
  // A replay is still told apart from a full cache.
  EXPECT_EQ(cache.Record("k", "a", 2000, 1000), Outcome::kReplayed);
  EXPECT_EQ(cache.size(), 3u);
  // Once "b" expired there is room again.
  EXPECT_EQ(cache.Record("k", "d", 2000, 1501), Outcome::kFresh);
  EXPECT_EQ(cache.size(), 3u);
}

}  // namespace
}  // namespace topup::auth
