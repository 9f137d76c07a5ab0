// The sweeper and the lease keeper on a real SQLite store, with a fake clock.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "../store/store_test_util.h"
#include "engine/engine.h"
#include "engine/lease_keeper.h"
#include "engine/sweeper.h"
#include "queue/embedded/embedded_queue.h"
#include "store/sqlite/sqlite_store.h"

namespace topup {
namespace {

using std::chrono::milliseconds;
using testing_util::kT0Ms;
using testing_util::MakeOrder;
using testing_util::OpenOrDie;
using testing_util::OptionsFor;
using testing_util::ScopedTempDir;

template <typename Done>
bool WaitFor(Done done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return true;
}

class SweeperLeaseKeeperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenOrDie(OptionsFor(dir_.File("t.db")));
    ASSERT_NE(store_, nullptr);
    ASSERT_TRUE(store_->CreateMerchant("m", "m", kT0Ms).ok());
    ASSERT_TRUE(store_->FundMerchant("m", 1'000'000, "", kT0Ms).ok());
    for (int i = 0; i < 3; ++i) {
      const std::string id = "o" + std::to_string(i);
      ASSERT_TRUE(store_->AcceptOrder(MakeOrder(id, "m", "mo" + id)).ok());
    }
  }

  ScopedTempDir dir_;
  std::unique_ptr<Store> store_;
  FakeClock clock_{kT0Ms};
  EngineCounters counters_;
};

TEST_F(SweeperLeaseKeeperTest, SweeperPublishesDueOrdersOnceUntilTheyAreDueAgain) {
  EmbeddedQueue queue;
  Sweeper sweeper(store_.get(), &queue, &clock_,
                  SweeperOptions{.interval_ms = 1, .batch_max = 2, .redeliver_after_ms = 5'000},
                  &counters_);
  sweeper.Start();
  ASSERT_TRUE(WaitFor([&] { return queue.size() == 3; }));
  std::this_thread::sleep_for(milliseconds(20));  // more passes: nothing is due again yet
  EXPECT_EQ(queue.size(), 3u);
  EXPECT_EQ(counters_.swept.load(), 3);
  clock_.AdvanceMs(5'000);  // the ids were lost: due again
  ASSERT_TRUE(WaitFor([&] { return queue.size() == 6; }));
  sweeper.Stop();
  EXPECT_EQ(counters_.store_errors.load(), 0);
  EXPECT_GE(sweeper.last_pass_ms(), kT0Ms + 5'000);
}

// A worker that died holding o0: once its lease lapses the sweeper publishes o0 and counts one
// lease expiry, and only one, however often o0 is swept again.
TEST_F(SweeperLeaseKeeperTest, SweeperCountsEachLapsedLeaseOnce) {
  const std::vector<std::string> held = {"o0"};
  ASSERT_EQ(store_->ClaimOrders(held, "dead-worker", clock_.NowMs(), 1'000)->size(), 1u);
  EmbeddedQueue queue;
  Sweeper sweeper(store_.get(), &queue, &clock_,
                  SweeperOptions{.interval_ms = 1, .batch_max = 10, .redeliver_after_ms = 5'000},
                  &counters_);
  sweeper.Start();
  ASSERT_TRUE(WaitFor([&] { return queue.size() == 2; }));  // o1 and o2; o0 is leased
  EXPECT_EQ(counters_.lease_expiries.load(), 0);
  clock_.AdvanceMs(1'000);
  ASSERT_TRUE(WaitFor([&] { return queue.size() == 3; }));
  EXPECT_EQ(counters_.lease_expiries.load(), 1);
  clock_.AdvanceMs(5'000);  // all three due again
  ASSERT_TRUE(WaitFor([&] { return queue.size() == 6; }));
  sweeper.Stop();
  EXPECT_EQ(counters_.lease_expiries.load(), 1);
}

TEST_F(SweeperLeaseKeeperTest, LeaseKeeperRenewsWhatItHoldsUntilLetGo) {
  LeaseKeeper keeper(store_.get(), &clock_,
                     LeaseKeeperOptions{.owner = "w1", .lease_ms = 30, .batch_max = 2}, &counters_);
  const std::vector<std::string> ids = {"o0", "o1", "o2"};
  ASSERT_EQ(store_->ClaimOrders(ids, "w1", clock_.NowMs(), 30)->size(), 3u);
  for (const std::string& id : ids) keeper.Hold(id);
  keeper.LetGo("o2");
  EXPECT_TRUE(keeper.Holds("o0"));
  EXPECT_FALSE(keeper.Holds("o2"));
  keeper.Start();
  clock_.AdvanceMs(20);
  // A pass after the advance renews o0 and o1 to now + 30.
  const int64_t advanced_ms = clock_.NowMs();
  ASSERT_TRUE(WaitFor([&] {
    return store_->GetOrder("o1")->lease_expires_ms == advanced_ms + 30 &&
           store_->GetOrder("o0")->lease_expires_ms == advanced_ms + 30;
  }));
  EXPECT_EQ(store_->GetOrder("o2")->lease_expires_ms, kT0Ms + 30);  // let go: not renewed
  keeper.LetGo("o0");
  EXPECT_FALSE(keeper.Holds("o0"));
  keeper.Stop();
  EXPECT_EQ(counters_.lease_renewal_failures.load(), 0);
}

}  // namespace
}  // namespace topup
