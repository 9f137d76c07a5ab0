#include "api/merchant_rate_limiter.h"

#include <gtest/gtest.h>

namespace topup::api {
namespace {

TEST(MerchantRateLimiterTest, ABucketPerMerchantRefilledByTheClock) {
  FakeClock clock;
  MerchantRateLimiter limiter(&clock, RateLimit{.rate_per_s = 2, .burst = 3}, {});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.TryTake("m1"), 0) << i;
  EXPECT_EQ(limiter.TryTake("m1"), 500);  // one token every 500 ms
  EXPECT_EQ(limiter.TryTake("m2"), 0);    // another merchant's bucket is full
  clock.AdvanceMs(250);
  EXPECT_EQ(limiter.TryTake("m1"), 250);
  clock.AdvanceMs(250);
  EXPECT_EQ(limiter.TryTake("m1"), 0);
  EXPECT_GT(limiter.TryTake("m1"), 0);
  // Never more than the burst, however long it waited.
  clock.AdvanceMs(3'600'000);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.TryTake("m1"), 0) << i;
  EXPECT_GT(limiter.TryTake("m1"), 0);
}

TEST(MerchantRateLimiterTest, PerMerchantLimitsOverrideTheDefaultAndZeroMeansNone) {
  FakeClock clock;
  MerchantRateLimiter limiter(&clock, RateLimit{}, {{"slow", RateLimit{.rate_per_s = 1}}});
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(limiter.TryTake("free"), 0);
  EXPECT_EQ(limiter.TryTake("slow"), 0);  // a burst below 1 still lets one through
  EXPECT_EQ(limiter.TryTake("slow"), 1000);
}

TEST(MerchantRateLimiterTest, AtTheBoundFullBucketsAreForgottenElseANewMerchantWaits) {
  FakeClock clock;
  MerchantRateLimiter limiter(&clock, RateLimit{.rate_per_s = 10, .burst = 2}, {});
  for (size_t i = 0; i < MerchantRateLimiter::kMaxBuckets; ++i) {
    ASSERT_EQ(limiter.TryTake("m" + std::to_string(i)), 0);
  }
  EXPECT_EQ(limiter.buckets(), MerchantRateLimiter::kMaxBuckets);
  // Every bucket is short of its burst: nothing can be forgotten, so a new merchant waits, and
  // the merchants with buckets go on as before.
  EXPECT_EQ(limiter.TryTake("new"), MerchantRateLimiter::kFullRetryMs);
  EXPECT_EQ(limiter.TryTake("m0"), 0);
  EXPECT_EQ(limiter.buckets(), MerchantRateLimiter::kMaxBuckets);
  // Once the buckets have refilled, forgetting them changes nothing: they go, the new one comes.
  clock.AdvanceMs(1'000);
  EXPECT_EQ(limiter.TryTake("new"), 0);
  EXPECT_EQ(limiter.buckets(), 1u);
}

}  // namespace
}  // namespace topup::api
