// TOPUP_ASSERT is on in this build type too: the tests build RelWithDebInfo, which defines
// NDEBUG, so a standard assert would not fire here.
#include "core/invariant.h"

#include <gtest/gtest.h>

#include <cstdio>

namespace topup {
namespace {

TEST(InvariantDeathTest, AFailedAssertionSaysWhereAndWhatOnStderrAndAborts) {
  const int held = 2;
  EXPECT_DEATH(TOPUP_ASSERT(held == 1, "an order held twice"),
               "invariant broken at .*invariant_test.cc:[0-9]+: an order held twice "
               "\\(held == 1\\)");
}

void ReportWithAPrefix(const char* condition, const char* message, const char* file, int line) {
  std::fprintf(stderr, "reported: %s:%d %s [%s]\n", file, line, message, condition);
}

TEST(InvariantDeathTest, TheReporterSetIsTheOneUsed) {
  EXPECT_DEATH(
      {
        SetInvariantReporter(&ReportWithAPrefix);
        TOPUP_ASSERT(1 + 1 == 3, "arithmetic");
      },
      "reported: .*invariant_test.cc:[0-9]+ arithmetic \\[1 \\+ 1 == 3\\]");
}

TEST(InvariantTest, AHoldingConditionIsEvaluatedOnceAndDoesNothingElse) {
  int evaluations = 0;
  TOPUP_ASSERT(++evaluations == 1, "evaluated once");
  EXPECT_EQ(evaluations, 1);
}

}  // namespace
}  // namespace topup
