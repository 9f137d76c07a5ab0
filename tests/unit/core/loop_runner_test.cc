// LoopRunner: rests as the pass says, is cut short by Wake(), and lets a caller wait for a
// condition that the passes bring about.
#include "core/loop_runner.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>

namespace topup {
namespace {

using std::chrono::milliseconds;

TEST(LoopRunnerTest, AWakeEndsARestThatWouldOutlastTheTest) {
  std::atomic<int> passes{0};
  LoopRunner runner("test-loop", [&] {
    ++passes;
    return PassRest(std::chrono::hours(1));
  });
  runner.Start(PassRest(std::chrono::hours(1)));
  EXPECT_FALSE(runner.WaitUntil([&] { return passes > 0; }, milliseconds(50)));
  runner.Wake();
  EXPECT_TRUE(runner.WaitUntil([&] { return passes == 1; }, milliseconds(10'000)));
  runner.Wake();
  EXPECT_TRUE(runner.WaitUntil([&] { return passes == 2; }, milliseconds(10'000)));
  runner.Stop();
  EXPECT_EQ(passes.load(), 2);
}

TEST(LoopRunnerTest, PassesRunAgainAtOnceWhileTheyAskTo) {
  std::atomic<int> passes{0};
  LoopRunner runner("test-loop",
                    [&] { return ++passes < 100 ? kAtOnce : PassRest(std::chrono::hours(1)); });
  runner.Start();
  EXPECT_TRUE(runner.WaitUntil([&] { return passes == 100; }, milliseconds(10'000)));
  runner.Stop();
  runner.Stop();  // idempotent
  EXPECT_EQ(passes.load(), 100);
}

}  // namespace
}  // namespace topup
