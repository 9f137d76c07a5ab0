#include "observe/readiness.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace topup::observe {
namespace {

// Waits (bounded) until `done` holds.
template <typename Done>
bool WaitFor(Done done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

TEST(ReadinessTest, ReadyOnlyOnceEveryProbeAnsweredOk) {
  FakeClock clock;
  Readiness readiness(&clock, ReadinessOptions{.interval_ms = 1, .stale_ms = 3'000});
  std::atomic<bool> store_ok{true};
  readiness.AddProbe("store", [&] {
    return store_ok ? Status::Ok() : Unavailable("store_unavailable", "disk gone");
  });
  EXPECT_EQ(readiness.Reasons(), std::vector<std::string>{"store: not checked yet"});
  readiness.Start();
  ASSERT_TRUE(WaitFor([&] { return readiness.Reasons().empty(); }));
  store_ok = false;
  ASSERT_TRUE(WaitFor([&] { return !readiness.Reasons().empty(); }));
  EXPECT_NE(readiness.Reasons()[0].find("store: "), std::string::npos);
  EXPECT_NE(readiness.Reasons()[0].find("disk gone"), std::string::npos);
  store_ok = true;
  ASSERT_TRUE(WaitFor([&] { return readiness.Reasons().empty(); }));
}

TEST(ReadinessTest, AProbeThatHangsCountsAsFailedOnceStale) {
  FakeClock clock;
  Readiness readiness(&clock, ReadinessOptions{.interval_ms = 1, .stale_ms = 3'000});
  std::atomic<bool> hang{false};
  std::atomic<bool> hanging{false};
  readiness.AddProbe("queue", [&] {
    while (hang) {
      hanging = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return Status::Ok();
  });
  readiness.Start();
  ASSERT_TRUE(WaitFor([&] { return readiness.Reasons().empty(); }));
  hang = true;
  ASSERT_TRUE(WaitFor([&] { return hanging.load(); }));
  EXPECT_TRUE(readiness.Reasons().empty());  // not stale yet
  clock.AdvanceMs(3'001);
  ASSERT_EQ(readiness.Reasons().size(), 1u);
  EXPECT_EQ(readiness.Reasons()[0], "queue: no answer for 3 s");
  hang = false;
  ASSERT_TRUE(WaitFor([&] { return readiness.Reasons().empty(); }));
}

TEST(ReadinessTest, ConditionsAddTheirReasons) {
  FakeClock clock;
  Readiness readiness(&clock);
  std::optional<std::string> stuck;
  readiness.AddCondition([&] { return stuck; });
  readiness.Start();
  EXPECT_TRUE(readiness.Reasons().empty());
  stuck = "engine: the finisher loop made no progress for 9 s";
  EXPECT_EQ(readiness.Reasons(), std::vector<std::string>{*stuck});
  readiness.Stop();
}

}  // namespace
}  // namespace topup::observe
