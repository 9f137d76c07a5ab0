#include "engine/circuit_breaker.h"

#include <gtest/gtest.h>

namespace topup {
namespace {

using State = CircuitBreaker::State;
using Outcome = CircuitBreaker::Outcome;

CircuitBreakerOptions Small() {
  return CircuitBreakerOptions{.window_size = 10,
                               .min_outcomes = 4,
                               .open_error_share = 0.5,
                               .consecutive_timeouts_to_open = 3,
                               .open_ms = 1'000};
}

TEST(CircuitBreakerTest, StaysClosedOnFewOrRareErrors) {
  CircuitBreaker breaker(Small());
  breaker.Record(Outcome::kError, 0);
  breaker.Record(Outcome::kError, 0);
  breaker.Record(Outcome::kError, 0);
  EXPECT_EQ(breaker.state(0), State::kClosed);  // fewer than min_outcomes
  CircuitBreaker rare(Small());
  for (int i = 0; i < 8; ++i) rare.Record(Outcome::kSuccess, 0);
  rare.Record(Outcome::kError, 0);
  rare.Record(Outcome::kError, 0);
  EXPECT_EQ(rare.state(0), State::kClosed);  // 2 of 10
  EXPECT_EQ(breaker.state(0), State::kClosed);
  EXPECT_TRUE(breaker.Allow(0));
}

TEST(CircuitBreakerTest, OpensOnErrorShareThenProbesHalfOpen) {
  CircuitBreaker breaker(Small());
  for (int i = 0; i < 2; ++i) breaker.Record(Outcome::kSuccess, 0);
  for (int i = 0; i < 2; ++i) breaker.Record(Outcome::kError, 0);
  EXPECT_EQ(breaker.state(0), State::kOpen);
  EXPECT_FALSE(breaker.Allow(999));
  EXPECT_EQ(breaker.state(1'000), State::kHalfOpen);
  EXPECT_TRUE(breaker.Allow(1'000));   // the probe
  EXPECT_FALSE(breaker.Allow(1'001));  // one probe at a time
  breaker.Record(Outcome::kError, 1'002);
  EXPECT_EQ(breaker.state(1'002), State::kOpen);  // failed probe: open again
  EXPECT_FALSE(breaker.Allow(1'500));
  EXPECT_TRUE(breaker.Allow(2'002));
  breaker.Record(Outcome::kSuccess, 2'003);
  EXPECT_EQ(breaker.state(2'003), State::kClosed);
  EXPECT_TRUE(breaker.Allow(2'004));
  EXPECT_TRUE(breaker.Allow(2'004));
}

TEST(CircuitBreakerTest, OpensOnConsecutiveTimeouts) {
  CircuitBreaker breaker(Small());
  for (int i = 0; i < 20; ++i) breaker.Record(Outcome::kSuccess, 0);
  breaker.Record(Outcome::kTimeout, 0);
  breaker.Record(Outcome::kTimeout, 0);
  EXPECT_EQ(breaker.state(0), State::kClosed);
  breaker.Record(Outcome::kTimeout, 0);
  EXPECT_EQ(breaker.state(0), State::kOpen);
}

}  // namespace
}  // namespace topup
