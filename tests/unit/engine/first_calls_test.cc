#include "engine/first_calls.h"

#include <gtest/gtest.h>

#include <string>

namespace topup {
namespace {

TEST(FirstCallsTest, KeepsTheFirstCallOfEachAttemptUntilForgotten) {
  FirstCalls calls(10);
  EXPECT_EQ(calls.Called("o1-1", 100), 100);
  EXPECT_EQ(calls.Called("o1-1", 900), 100);  // a later query: still the first call
  EXPECT_EQ(calls.Called("o2-1", 500), 500);
  calls.Forget("o1-1");
  EXPECT_EQ(calls.Called("o1-1", 1'000), 1'000);  // taken up again: a new, later first call
  EXPECT_EQ(calls.size(), 2u);
}

// At the bound an entry is forgotten: its attempt's next call counts as a first call, which is
// later than the one forgotten, so a not_found is believed later, never earlier.
TEST(FirstCallsTest, AtTheBoundForgetsAnEntryAndNeverGrows) {
  FirstCalls calls(3);
  for (int i = 0; i < 3; ++i) calls.Called("o" + std::to_string(i) + "-1", 100);
  EXPECT_EQ(calls.Called("o9-1", 200), 200);
  EXPECT_EQ(calls.size(), 3u);
  int forgotten = 0;
  for (int i = 0; i < 3; ++i) {
    const int64_t first_ms = calls.Called("o" + std::to_string(i) + "-1", 300);
    EXPECT_GE(first_ms, 100);
    if (first_ms == 300) ++forgotten;
  }
  EXPECT_GE(forgotten, 1);
  EXPECT_EQ(calls.size(), 3u);
}

}  // namespace
}  // namespace topup
