// Many threads writing at once: group commit must keep every write correct and durable, and the
// throughput figures printed here are what the store gives the engine on this machine.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <latch>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "store/sqlite/sqlite_store.h"
#include "store_test_util.h"

namespace topup {
namespace {

using testing_util::kT0Ms;
using testing_util::MakeOrder;
using testing_util::Move;
using testing_util::OpenOrDie;
using testing_util::OptionsFor;
using testing_util::ScopedTempDir;
using testing_util::StartAttempt;

// prefix + rest, without operator+(const char*, std::string&&): in it GCC 12 at -O3 sees a false
// overlap (-Wrestrict), which fails the Release build.
std::string Joined(std::string_view prefix, const std::string& rest) {
  return std::string(prefix).append(rest);
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string OrderId(int thread, int i) {
  char id[32];
  std::snprintf(id, sizeof(id), "o%02d-%06d", thread, i);
  return id;
}

TEST(SqliteStoreLoadTest, EightThreadsAcceptingTogetherStayBalanced) {
  constexpr int kThreads = 8;
  constexpr int kOrdersPerThread = 2000;
  constexpr int kMerchants = 4;
  constexpr int64_t kPriceFen = 1000;
  constexpr int64_t kLeftoverFen = 500;
  ScopedTempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(OptionsFor(dir.File("topup.db")));
  ASSERT_NE(store, nullptr);
  // Each merchant is shared by two threads and can pay for exactly their orders, plus a little.
  const int64_t funding_fen = kThreads / kMerchants * kOrdersPerThread * kPriceFen + kLeftoverFen;
  for (int m = 0; m < kMerchants; ++m) {
    const std::string id = Joined("m", std::to_string(m));
    ASSERT_TRUE(store->CreateMerchant(id, id, kT0Ms).ok());
    ASSERT_TRUE(store->FundMerchant(id, funding_fen, "", kT0Ms).ok());
  }

  std::atomic<int> created{0};
  std::atomic<int> replayed{0};
  std::atomic<int> errors{0};
  std::latch start_line(kThreads);
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string merchant_id = Joined("m", std::to_string(t % kMerchants));
      start_line.arrive_and_wait();
      for (int i = 0; i < kOrdersPerThread; ++i) {
        const std::string id = OrderId(t, i);
        Order order = MakeOrder(id, merchant_id, id, kPriceFen);
        Result<AcceptResult> result = store->AcceptOrder(order);
        if (!result.ok() || !result->created) {
          errors.fetch_add(1);
          continue;
        }
        created.fetch_add(1);
        if (i % 50 == 0) {  // a merchant retrying: the same order, not a second debit
          order.order_id += "-retry";
          Result<AcceptResult> again = store->AcceptOrder(order);
          if (again.ok() && !again->created && again->order.order_id == id) {
            replayed.fetch_add(1);
          } else {
            errors.fetch_add(1);
          }
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double seconds = SecondsSince(start);
  std::printf("[ store    ] %d accepts from %d threads in %.2f s: %.0f accepts/s\n",
              kThreads * kOrdersPerThread, kThreads, seconds,
              kThreads * kOrdersPerThread / seconds);

  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(created.load(), kThreads * kOrdersPerThread);
  EXPECT_EQ(replayed.load(), kThreads * (kOrdersPerThread / 50));
  Result<OrderCounts> counts = store->CountOrders();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[OrderStatus::kAccepted], kThreads * kOrdersPerThread);
  for (int m = 0; m < kMerchants; ++m) {
    EXPECT_EQ(store->GetMerchant(Joined("m", std::to_string(m)))->balance_fen, kLeftoverFen);
  }
  // The balance cannot go below zero: one more order is refused for every merchant.
  Result<AcceptResult> broke = store->AcceptOrder(MakeOrder("extra", "m0", "extra", kPriceFen));
  EXPECT_EQ(broke.status().reason(), "insufficient_balance");
  Result<LedgerAudit> audit = store->AuditLedger();
  ASSERT_TRUE(audit.ok());
  EXPECT_TRUE(audit->balanced) << audit->problems;
  EXPECT_EQ(audit->debited_fen, int64_t{kThreads} * kOrdersPerThread * kPriceFen);
  EXPECT_EQ(audit->balance_fen, kMerchants * kLeftoverFen);
}

// Prints the accept rate with 16 threads, and the rate of whole order lives with the engine's
// four writes per order (accept, claim, start the attempt, success).
TEST(SqliteStoreLoadTest, Throughput) {
  constexpr int kThreads = 16;
  constexpr int kOrdersPerThread = 1000;
  ScopedTempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(OptionsFor(dir.File("topup.db")));
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateMerchant("m", "m", kT0Ms).ok());
  ASSERT_TRUE(store->FundMerchant("m", 1'000'000'000'000, "", kT0Ms).ok());

  // Order ids are taken in time order, as NewOrderId makes them, so the id indexes grow at their
  // right edge as in production; merchant order ids come from 16 interleaved sequences.
  std::atomic<int64_t> next_id{0};
  auto new_order_id = [&next_id] {
    char id[24];
    std::snprintf(id, sizeof(id), "%016lld", static_cast<long long>(next_id.fetch_add(1)));
    return std::string(id);
  };

  auto run = [&](const char* what, int writes_per_order, auto&& one_order) {
    std::atomic<int> errors{0};
    std::latch start_line(kThreads);
    std::vector<std::thread> threads;
    const auto start = std::chrono::steady_clock::now();
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        start_line.arrive_and_wait();
        for (int i = 0; i < kOrdersPerThread; ++i) {
          if (!one_order(t, i)) errors.fetch_add(1);
        }
      });
    }
    for (std::thread& t : threads) t.join();
    const double seconds = SecondsSince(start);
    const int orders = kThreads * kOrdersPerThread;
    std::printf("[ store    ] %s: %d orders, %d threads, %.2f s: %.0f orders/s, %.0f writes/s\n",
                what, orders, kThreads, seconds, orders / seconds,
                orders * writes_per_order / seconds);
    EXPECT_EQ(errors.load(), 0) << what;
  };

  run("accept only", 1, [&](int t, int i) {
    return store->AcceptOrder(MakeOrder(new_order_id(), "m", Joined("a", OrderId(t, i)))).ok();
  });

  run("accept+claim+start+success", 4, [&](int t, int i) {
    const std::string id = new_order_id();
    Result<AcceptResult> accepted =
        store->AcceptOrder(MakeOrder(id, "m", Joined("b", OrderId(t, i))));
    if (!accepted.ok()) return false;
    const std::string owner = Joined("w", std::to_string(t));
    Result<std::vector<Order>> claimed =
        store->ClaimOrders(std::span<const std::string>(&id, 1), owner, kT0Ms, 30'000);
    if (!claimed.ok() || claimed->size() != 1) return false;
    Order order = (*claimed)[0];
    Result<bool> started =
        store->ApplyTransition(StartAttempt(order, OrderStatus::kCharging, kT0Ms + 1));
    if (!started.ok() || !*started) return false;
    order.status = OrderStatus::kCharging;
    order.attempt_count = 1;
    Transition success =
        Move(order, OrderStatus::kSuccess, kT0Ms + 2, Transition::Attempt::kKeep, "succeeded");
    success.release_lease = true;
    Result<bool> done = store->ApplyTransition(success);
    return done.ok() && *done;
  });

  Result<LedgerAudit> audit = store->AuditLedger();
  ASSERT_TRUE(audit.ok());
  EXPECT_TRUE(audit->balanced) << audit->problems;
}

}  // namespace
}  // namespace topup
