#include "engine/circuit_breaker.h"

#include <gtest/gtest.h>

namespace topup {
namespace {

using State = CircuitBreaker::State;
using Outcome = CircuitBreaker::Outcome;

CircuitBreakerOptions Small() {
  return CircuitBreakerOptions{.window_size = 10,
                               .min_outcomes = 4,
                               .open_failure_share = 0.5,
                               .open_no_answer_share = 0.9,
                               .open_ms = 1'000};
}

TEST(CircuitBreakerTest, StaysClosedOnFewOrRareFailures) {
  CircuitBreaker breaker(Small());
  breaker.Record(Outcome::kFailure, 0);
  breaker.Record(Outcome::kFailure, 0);
  breaker.Record(Outcome::kFailure, 0);
  EXPECT_EQ(breaker.state(0), State::kClosed);  // fewer than min_outcomes
  CircuitBreaker rare(Small());
  for (int i = 0; i < 8; ++i) rare.Record(Outcome::kSuccess, 0);
  rare.Record(Outcome::kFailure, 0);
  rare.Record(Outcome::kFailure, 0);
  EXPECT_EQ(rare.state(0), State::kClosed);  // 2 of 10
  EXPECT_EQ(breaker.state(0), State::kClosed);
  EXPECT_TRUE(breaker.Allow(0));
}

TEST(CircuitBreakerTest, OpensOnFailureShareThenProbesHalfOpen) {
  CircuitBreaker breaker(Small());
  for (int i = 0; i < 2; ++i) breaker.Record(Outcome::kSuccess, 0);
  for (int i = 0; i < 2; ++i) breaker.Record(Outcome::kFailure, 0);
  EXPECT_EQ(breaker.state(0), State::kOpen);
  EXPECT_FALSE(breaker.Allow(999));
  EXPECT_EQ(breaker.state(1'000), State::kHalfOpen);
  EXPECT_TRUE(breaker.Allow(1'000));   // the probe
  EXPECT_FALSE(breaker.Allow(1'001));  // one probe at a time
  breaker.Record(Outcome::kFailure, 1'002);
  EXPECT_EQ(breaker.state(1'002), State::kOpen);  // failed probe: open again
  EXPECT_FALSE(breaker.Allow(1'500));
  EXPECT_TRUE(breaker.Allow(2'002));
  breaker.Record(Outcome::kSuccess, 2'003);
  EXPECT_EQ(breaker.state(2'003), State::kClosed);
  EXPECT_TRUE(breaker.Allow(2'004));
  EXPECT_TRUE(breaker.Allow(2'004));
}

TEST(CircuitBreakerTest, AnswersLostOrUnreadableAreNotFailures) {
  // A supplier that credits everything but garbles a third of its answers: each garbled answer is
  // a no-answer now and a success once a query resolves it.
  CircuitBreaker breaker(Small());
  for (int i = 0; i < 300; ++i) {
    if (i % 3 == 0) {
      breaker.Record(Outcome::kNoAnswer, i);
      breaker.Record(Outcome::kSuccess, i);  // resolved by a query
    } else {
      breaker.Record(Outcome::kSuccess, i);
    }
    ASSERT_EQ(breaker.state(i), State::kClosed) << i;
  }
}

TEST(CircuitBreakerTest, OpensWhenNothingReadableComesBack) {
  CircuitBreaker breaker(Small());
  for (int i = 0; i < 10; ++i) breaker.Record(Outcome::kSuccess, 0);
  for (int i = 0; i < 8; ++i) breaker.Record(Outcome::kNoAnswer, 0);
  EXPECT_EQ(breaker.state(0), State::kClosed);  // 8 of 10
  breaker.Record(Outcome::kNoAnswer, 0);
  EXPECT_EQ(breaker.state(0), State::kOpen);  // 9 of 10
}

TEST(CircuitBreakerTest, ProbesWithoutAReadableAnswerReopenItOnlyInARow) {
  CircuitBreakerOptions options = Small();
  options.half_open_no_answers = 3;
  CircuitBreaker breaker(options);
  for (int i = 0; i < 4; ++i) breaker.Record(Outcome::kFailure, 0);
  ASSERT_EQ(breaker.state(0), State::kOpen);
  // A garbled probe is inconclusive: the next one may go at once.
  ASSERT_TRUE(breaker.Allow(1'000));
  breaker.Record(Outcome::kNoAnswer, 1'001);
  EXPECT_EQ(breaker.state(1'001), State::kHalfOpen);
  ASSERT_TRUE(breaker.Allow(1'002));
  breaker.Record(Outcome::kNoAnswer, 1'003);
  ASSERT_TRUE(breaker.Allow(1'004));
  breaker.Record(Outcome::kNoAnswer, 1'005);
  EXPECT_EQ(breaker.state(1'005), State::kOpen);  // three in a row: still nothing readable
  ASSERT_TRUE(breaker.Allow(2'005));
  breaker.Record(Outcome::kNoAnswer, 2'006);
  ASSERT_TRUE(breaker.Allow(2'007));
  breaker.Record(Outcome::kSuccess, 2'008);
  EXPECT_EQ(breaker.state(2'008), State::kClosed);
  // A failed probe reopens it at once.
  for (int i = 0; i < 4; ++i) breaker.Record(Outcome::kFailure, 3'000);
  ASSERT_TRUE(breaker.Allow(4'000));
  breaker.Record(Outcome::kFailure, 4'001);
  EXPECT_EQ(breaker.state(4'001), State::kOpen);
}

}  // namespace
}  // namespace topup
