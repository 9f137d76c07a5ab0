#include "store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>
#include <vector>

#include "store_test_util.h"

namespace topup {
namespace {

using testing_util::kT0Ms;
using testing_util::MakeOrder;
using testing_util::OpenOrDie;
using testing_util::OptionsFor;
using testing_util::ScopedTempDir;

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenOrDie(OptionsFor(dir_.File("topup.db")));
    ASSERT_NE(store_, nullptr);
  }

  // Creates a merchant holding `balance_fen`.
  void AddMerchant(const std::string& merchant_id, int64_t balance_fen) {
    ASSERT_TRUE(store_->CreateMerchant(merchant_id, "Merchant " + merchant_id, kT0Ms).ok());
    if (balance_fen > 0) {
      Result<int64_t> balance = store_->FundMerchant(merchant_id, balance_fen, "opening", kT0Ms);
      ASSERT_TRUE(balance.ok()) << balance.status().ToString();
      ASSERT_EQ(*balance, balance_fen);
    }
  }

  int64_t Balance(const std::string& merchant_id) {
    Result<Merchant> merchant = store_->GetMerchant(merchant_id);
    EXPECT_TRUE(merchant.ok()) << merchant.status().ToString();
    return merchant.ok() ? merchant->balance_fen : -1;
  }

  ScopedTempDir dir_;
  std::unique_ptr<Store> store_;
};

// --- Opening ---

TEST(SqliteStoreOpenTest, UnopenablePathsGiveAStatus) {
  ScopedTempDir dir;
  Result<std::unique_ptr<Store>> missing_dir =
      OpenSqliteStore(OptionsFor(dir.File("no/such/dir/topup.db")));
  ASSERT_FALSE(missing_dir.ok());
  EXPECT_EQ(missing_dir.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(missing_dir.status().reason(), "store_unavailable");

  Result<std::unique_ptr<Store>> a_directory = OpenSqliteStore(OptionsFor(dir.path()));
  ASSERT_FALSE(a_directory.ok());
  EXPECT_EQ(a_directory.status().reason(), "store_unavailable");

  {
    std::ofstream junk(dir.File("junk.db"));
    junk << std::string(8192, 'x');
  }
  Result<std::unique_ptr<Store>> not_a_database = OpenSqliteStore(OptionsFor(dir.File("junk.db")));
  ASSERT_FALSE(not_a_database.ok());
  EXPECT_EQ(not_a_database.status().reason(), "store_unavailable");
  EXPECT_NE(not_a_database.status().message(), "");
}

TEST(SqliteStoreOpenTest, RejectsBadOptions) {
  ScopedTempDir dir;
  SqliteStoreOptions options = OptionsFor(dir.File("topup.db"));
  for (auto mutate : std::vector<std::function<void(SqliteStoreOptions&)>>{
           [](SqliteStoreOptions& o) { o.path = ""; },
           [](SqliteStoreOptions& o) { o.path = ":memory:"; },
           [](SqliteStoreOptions& o) { o.max_batch_ops = 0; },
           [](SqliteStoreOptions& o) { o.read_connections = 0; },
           [](SqliteStoreOptions& o) { o.max_queued_writes = 0; },
       }) {
    SqliteStoreOptions bad = options;
    mutate(bad);
    Result<std::unique_ptr<Store>> store = OpenSqliteStore(bad);
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.status().reason(), "invalid_store_options");
  }
  EXPECT_FALSE(std::filesystem::exists(dir.File("topup.db")));
}

// What every store must do is tested against SQLite and PostgreSQL alike in
// tests/conformance/store_conformance_test.cc; this file keeps what is SQLite's own.

TEST_F(SqliteStoreTest, AcceptValidatesTheOrder) {
  AddMerchant("m1", 10'000);
  Order started = MakeOrder("o1", "m1", "mo-1");
  started.status = OrderStatus::kCharging;
  Order no_id = MakeOrder("", "m1", "mo-1");
  Order negative = MakeOrder("o1", "m1", "mo-1", -1);
  for (const Order& bad : {started, no_id, negative}) {
    EXPECT_EQ(store_->AcceptOrder(bad).status().reason(), "invalid_order");
  }
  EXPECT_EQ(Balance("m1"), 10'000);
}

// Checkpoints run on their own thread, not in the writer's COMMIT (whose automatic checkpoint
// starts only at a 64 MiB WAL, SQLite's default being 4 MiB): the database file itself grows
// while a few hundred orders, far less WAL than either, are written.
TEST_F(SqliteStoreTest, TheWalIsCopiedBackWhileOrdersAreWritten) {
  const std::string db_path = dir_.File("topup.db");
  const auto initial_size = std::filesystem::file_size(db_path);
  AddMerchant("m1", 1'000'000'000);
  std::vector<std::thread> writers;
  for (int t = 0; t < 2; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 150; ++i) {
        // Appended, not "o" + ...: GCC 12 at -O3 sees a false overlap (-Wrestrict) in
        // operator+(const char*, std::string&&).
        std::string id = "o";
        id.append(std::to_string(t)).append("-").append(std::to_string(i));
        EXPECT_TRUE(store_->AcceptOrder(MakeOrder(id, "m1", id)).ok());
      }
    });
  }
  for (std::thread& writer : writers) writer.join();
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::filesystem::file_size(db_path) < initial_size + 64 * 1024 &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GE(std::filesystem::file_size(db_path), initial_size + 64 * 1024);
}

}  // namespace
}  // namespace topup
