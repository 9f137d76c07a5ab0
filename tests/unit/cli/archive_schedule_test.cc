#include "cli/archive_schedule.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "../store/store_test_util.h"
#include "store/sqlite/sqlite_connection.h"
#include "topup/clock.h"

namespace topup::cli {
namespace {

using testing_util::MakeOrder;
using testing_util::OpenOrDie;
using testing_util::OptionsFor;
using testing_util::ScopedTempDir;

TEST(MakeArchiveRequestTest, CutsOffTheAgeBeforeNow) {
  Result<ArchiveRequest> request = MakeArchiveRequest("30d", 100, 3'000'000'000);
  ASSERT_TRUE(request.ok()) << request.status().ToString();
  EXPECT_EQ(request->finished_before_ms, 3'000'000'000 - 2'592'000'000);
  EXPECT_EQ(request->batch_orders, 100u);
}

TEST(MakeArchiveRequestTest, RefusesABadAgeOrBatch) {
  EXPECT_EQ(MakeArchiveRequest("30 days", 100, 3'000'000'000).status().reason(),
            "invalid_duration");
  EXPECT_EQ(MakeArchiveRequest("30d", 0, 3'000'000'000).status().reason(),
            "invalid_archive_request");
  EXPECT_EQ(MakeArchiveRequest("30d", 50'001, 3'000'000'000).status().reason(),
            "invalid_archive_request");
  // An age reaching back before the epoch leaves no cutoff.
  EXPECT_EQ(MakeArchiveRequest("30d", 100, 1000).status().reason(), "invalid_archive_request");
}

class ArchiveScheduleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenOrDie(OptionsFor(dir_.File("topup.db")));
    ASSERT_NE(store_, nullptr);
    ASSERT_TRUE(store_->CreateMerchant("m1", "Merchant m1", 1).ok());
    ASSERT_TRUE(store_->FundMerchant("m1", 100'000, "opening", 1).ok());
  }

  // An order that succeeded `age_ms` ago (by the system clock, which the schedule reads).
  void AddOrderFinishedAgo(const std::string& id, int64_t age_ms) {
    const int64_t finished_ms = SystemClock()->NowMs() - age_ms;
    Order order = MakeOrder(id, "m1", "mo-" + id, 1000, finished_ms - 10);
    order.notify_url = "";
    ASSERT_TRUE(store_->AcceptOrder(order).ok());
    order = store_->GetOrder(id).value();
    ASSERT_TRUE(store_
                    ->ApplyTransition(
                        testing_util::StartAttempt(order, OrderStatus::kCharging, finished_ms - 5))
                    .value());
    order = store_->GetOrder(id).value();
    ASSERT_TRUE(store_
                    ->ApplyTransition(testing_util::Move(order, OrderStatus::kSuccess, finished_ms,
                                                         Transition::Attempt::kKeep, "succeeded"))
                    .value());
  }

  // The succeeded orders still in the hot tables (CountOrders counts the archived ones too).
  int64_t HotSucceeded() {
    Result<std::unique_ptr<sqlite::SqliteConnection>> db = sqlite::SqliteConnection::Open(
        dir_.File("topup.db"), sqlite::SqliteConnection::Mode::kReadOnly, 5000);
    if (!db.ok()) return -1;
    Result<sqlite::Statement> select =
        (*db)->Prepare("SELECT count(*) FROM orders WHERE status = 3");
    if (!select.ok()) return -1;
    Result<bool> row = select->Step();
    return row.ok() && *row ? select->ColumnInt64(0) : -1;
  }

  ScopedTempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(ArchiveScheduleTest, RunsEveryPeriodAndMovesOnlyOrdersOlderThanTheAge) {
  AddOrderFinishedAgo("old", 3'600'000);
  AddOrderFinishedAgo("young", 0);
  ASSERT_EQ(HotSucceeded(), 2);
  {
    ArchiveSchedule schedule(*store_, /*every_ms=*/20, "1h", /*batch=*/10);
    // Bounded wait for the first runs; the young order stays whatever the number of runs.
    for (int i = 0; i < 500 && HotSucceeded() != 1; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(HotSucceeded(), 1);
    // An order that becomes old enough while the schedule runs leaves on a later run. A young
    // order follows it: on SQLite the order owning the newest event stays hot
    // (store/sqlite/archive.cc).
    AddOrderFinishedAgo("later", 7'200'000);
    AddOrderFinishedAgo("youngest", 0);
    for (int i = 0; i < 500 && HotSucceeded() != 2; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(HotSucceeded(), 2);
  }
  EXPECT_EQ(store_->GetOrder("young")->status, OrderStatus::kSuccess);
  EXPECT_EQ(store_->GetOrder("old")->status, OrderStatus::kSuccess);  // from the archive
  EXPECT_EQ(store_->GetOrder("later")->status, OrderStatus::kSuccess);
  EXPECT_TRUE(store_->AuditLedger()->balanced);
}

// The first run is one period after the start, and destroying the schedule wakes its thread
// rather than waiting out the period.
TEST_F(ArchiveScheduleTest, DoesNotRunBeforeThePeriodAndStopsAtOnce) {
  AddOrderFinishedAgo("old", 3'600'000);
  const auto started = std::chrono::steady_clock::now();
  {
    ArchiveSchedule schedule(*store_, /*every_ms=*/3'600'000, "1h", /*batch=*/10);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(60));
  EXPECT_EQ(HotSucceeded(), 1);
}

}  // namespace
}  // namespace topup::cli
