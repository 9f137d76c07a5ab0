#include "store/sqlite/schema.h"

#include <gtest/gtest.h>

#include <vector>

#include "store/sqlite/archive.h"
#include "store/sqlite/sqlite_connection.h"
#include "store/sqlite/sqlite_store.h"
#include "store_test_util.h"

namespace topup::sqlite {
namespace {

using testing_util::OpenOrDie;
using testing_util::OptionsFor;
using testing_util::ScopedTempDir;

std::unique_ptr<SqliteConnection> OpenRaw(const std::string& path) {
  Result<std::unique_ptr<SqliteConnection>> db =
      SqliteConnection::Open(path, SqliteConnection::Mode::kReadWrite, 5000);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  return db.ok() ? std::move(db).value() : nullptr;
}

// All rows of a one-column query, as text.
std::vector<std::string> Column(SqliteConnection& db, const std::string& sql) {
  std::vector<std::string> values;
  Result<Statement> select = db.Prepare(sql);
  EXPECT_TRUE(select.ok()) << select.status().ToString();
  while (select.ok()) {
    Result<bool> row = select->Step();
    EXPECT_TRUE(row.ok()) << row.status().ToString();
    if (!row.ok() || !*row) break;
    values.push_back(select->ColumnText(0));
  }
  return values;
}

bool HasTable(SqliteConnection& db, const std::string& table) {
  return !Column(db,
                 "SELECT name FROM sqlite_schema WHERE type = 'table' AND name = '" + table + "'")
              .empty();
}

constexpr Migration kFirst = {1, "create a", "CREATE TABLE a (x INTEGER)"};
constexpr Migration kSecond = {2, "create b",
                               "CREATE TABLE b (y INTEGER); INSERT INTO b VALUES (7)"};
constexpr Migration kBroken = {3, "broken",
                               "CREATE TABLE c (z INTEGER); INSERT INTO nowhere VALUES (1)"};

TEST(SchemaTest, AppliesOnlyTheMissingMigrations) {
  ScopedTempDir dir;
  std::unique_ptr<SqliteConnection> db = OpenRaw(dir.File("m.db"));
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(SchemaVersion(*db).value(), 0);

  const Migration v1[] = {kFirst};
  ASSERT_TRUE(ApplyMigrations(*db, v1).ok());
  EXPECT_EQ(SchemaVersion(*db).value(), 1);
  EXPECT_TRUE(HasTable(*db, "a"));

  // kFirst has no IF NOT EXISTS: applying it twice would fail, so success shows it was skipped.
  const Migration v2[] = {kFirst, kSecond};
  Status status = ApplyMigrations(*db, v2);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(SchemaVersion(*db).value(), 2);
  EXPECT_EQ(Column(*db, "SELECT y FROM b"), std::vector<std::string>{"7"});
  EXPECT_EQ(Column(*db, "SELECT name FROM schema_version ORDER BY version"),
            (std::vector<std::string>{"create a", "create b"}));

  ASSERT_TRUE(ApplyMigrations(*db, v2).ok());
  EXPECT_EQ(Column(*db, "SELECT count(*) FROM schema_version"), std::vector<std::string>{"2"});
}

TEST(SchemaTest, AFailingMigrationAppliesNothing) {
  ScopedTempDir dir;
  std::unique_ptr<SqliteConnection> db = OpenRaw(dir.File("m.db"));
  ASSERT_NE(db, nullptr);
  const Migration all[] = {kFirst, kSecond, kBroken};
  Status status = ApplyMigrations(*db, all);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("broken"), std::string::npos) << status.ToString();
  EXPECT_EQ(SchemaVersion(*db).value(), 0);
  EXPECT_FALSE(HasTable(*db, "a"));
  EXPECT_FALSE(HasTable(*db, "c"));
  EXPECT_FALSE(db->InTransaction());
}

TEST(SchemaTest, RefusesANewerDatabase) {
  ScopedTempDir dir;
  std::unique_ptr<SqliteConnection> db = OpenRaw(dir.File("m.db"));
  ASSERT_NE(db, nullptr);
  const Migration v2[] = {kFirst, kSecond};
  ASSERT_TRUE(ApplyMigrations(*db, v2).ok());
  const Migration v1[] = {kFirst};
  EXPECT_EQ(ApplyMigrations(*db, v1).reason(), "schema_too_new");

  ASSERT_TRUE(db->Exec("INSERT INTO schema_version (version, name) VALUES (999, 'future')").ok());
  db.reset();
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(OptionsFor(dir.File("m.db")));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store.status().reason(), "schema_too_new");
}

TEST(SchemaTest, OpeningTheStoreTwiceIsANoOp) {
  ScopedTempDir dir;
  const std::string path = dir.File("topup.db");
  ASSERT_NE(OpenOrDie(OptionsFor(path)), nullptr);
  std::unique_ptr<SqliteConnection> db = OpenRaw(path);
  ASSERT_NE(db, nullptr);
  const std::vector<std::string> versions =
      Column(*db, "SELECT version || ' ' || name || ' ' || applied_at FROM schema_version");
  const std::vector<std::string> schema =
      Column(*db, "SELECT sql FROM sqlite_schema ORDER BY name");
  ASSERT_EQ(versions.size(), StoreMigrations().size());
  EXPECT_EQ(SchemaVersion(*db).value(), static_cast<int>(StoreMigrations().size()));

  ASSERT_NE(OpenOrDie(OptionsFor(path)), nullptr);
  EXPECT_EQ(Column(*db, "SELECT version || ' ' || name || ' ' || applied_at FROM schema_version"),
            versions);
  EXPECT_EQ(Column(*db, "SELECT sql FROM sqlite_schema ORDER BY name"), schema);
  EXPECT_EQ(Column(*db, "PRAGMA journal_mode"), std::vector<std::string>{"wal"});
}

TEST(SchemaTest, UpgradingKeepsRowsIdsAndGuards) {
  ScopedTempDir dir;
  std::unique_ptr<SqliteConnection> db = OpenRaw(dir.File("old.db"));
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(ApplyMigrations(*db, StoreMigrations().first(1)).ok());
  ASSERT_TRUE(db->Exec("INSERT INTO merchants (merchant_id, name, balance_fen, created_ms) "
                       "VALUES ('m', 'm', 300, 1);"
                       "INSERT INTO ledger (merchant_id, order_id, kind, amount_fen, "
                       "balance_after_fen, created_ms, note) VALUES "
                       "('m', NULL, 0, 100, 100, 1, 'a'), ('m', NULL, 0, 200, 300, 2, 'b');"
                       "INSERT INTO orders VALUES ('o1', 'm', 'mo1', '13800138000', 0, 10, 1000, "
                       "'', 0, 0, '', 0, '', '', '', 1, 180001, 1, 0, 5001, '', 0);"
                       "INSERT INTO order_events (order_id, at_ms, kind, from_status, to_status, "
                       "attempt_no, detail) VALUES ('o1', 1, 'accepted', 0, 0, 0, '')")
                  .ok());

  // As the store opens it: with its archive attached, which the counts' migration reads.
  ASSERT_TRUE(AttachArchive(*db, dir.File("old.db.archive"), /*create=*/true).ok());
  ASSERT_TRUE(ApplyMigrations(*db, StoreMigrations()).ok());
  EXPECT_EQ(Column(*db, "SELECT entry_id || ' ' || note FROM ledger ORDER BY entry_id"),
            (std::vector<std::string>{"1 a", "2 b"}));
  EXPECT_EQ(Column(*db, "SELECT status || ' ' || orders FROM order_counts ORDER BY status"),
            (std::vector<std::string>{"0 1", "1 0", "2 0", "3 0", "4 0"}));
  ASSERT_TRUE(db->Exec("INSERT INTO ledger (merchant_id, order_id, kind, amount_fen, "
                       "balance_after_fen, created_ms, note) VALUES ('m', NULL, 0, 1, 301, 3, 'c')")
                  .ok());
  EXPECT_EQ(Column(*db, "SELECT max(entry_id) FROM ledger"), std::vector<std::string>{"3"});
  EXPECT_FALSE(db->Exec("UPDATE ledger SET amount_fen = 5 WHERE entry_id = 1").ok());
  EXPECT_FALSE(db->Exec("DELETE FROM ledger").ok());
  // The rebuilt orders table keeps its rows and its checks.
  EXPECT_EQ(Column(*db, "SELECT order_id || ' ' || next_check_ms FROM orders"),
            std::vector<std::string>{"o1 5001"});
  EXPECT_EQ(Column(*db, "SELECT count(*) FROM order_events WHERE order_id = 'o1'"),
            std::vector<std::string>{"1"});
  EXPECT_FALSE(db->Exec("UPDATE orders SET status = 3 WHERE order_id = 'o1'").ok());
  EXPECT_TRUE(db->Exec("UPDATE orders SET status = 3, finished_ms = 2 WHERE order_id = 'o1'").ok());
  EXPECT_EQ(Column(*db, "SELECT count(*) FROM sqlite_schema WHERE sql LIKE '%AUTOINCREMENT%'"),
            std::vector<std::string>{"0"});
}

// The sweeper's query must be served by the partial index, not a scan of every order ever taken.
TEST(SchemaTest, DueOrdersUseThePartialIndex) {
  ScopedTempDir dir;
  const std::string path = dir.File("topup.db");
  ASSERT_NE(OpenOrDie(OptionsFor(path)), nullptr);
  std::unique_ptr<SqliteConnection> db = OpenRaw(path);
  ASSERT_NE(db, nullptr);
  Result<Statement> plan = db->Prepare(
      "EXPLAIN QUERY PLAN SELECT order_id FROM orders WHERE status < 3 AND "
      "next_check_ms <= 5 AND lease_expires_ms <= 5 ORDER BY next_check_ms LIMIT 10");
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  std::string details;
  while (true) {
    Result<bool> row = plan->Step();
    ASSERT_TRUE(row.ok());
    if (!*row) break;
    details += plan->ColumnText(3) + "\n";
  }
  EXPECT_NE(details.find("orders_due"), std::string::npos) << details;
}

}  // namespace
}  // namespace topup::sqlite
