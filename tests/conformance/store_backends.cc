#include "store_backends.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <optional>

#include "store/postgres/pg_connection.h"
#include "store/postgres/postgres_store.h"
#include "store/sqlite/archive.h"
#include "store/sqlite/sqlite_connection.h"
#include "store/sqlite/sqlite_store.h"

namespace topup::store_conformance {
namespace {

class SqliteBackend final : public StoreBackend {
 public:
  explicit SqliteBackend(std::string dir) : dir_(std::move(dir)) {}
  ~SqliteBackend() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  Result<std::unique_ptr<Store>> Open() override {
    SqliteStoreOptions options;
    options.path = path();
    return OpenSqliteStore(options);
  }

  Status Execute(const std::string& sql) override {
    Result<std::unique_ptr<sqlite::SqliteConnection>> db = Connect();
    if (!db.ok()) return db.status();
    return (*db)->Exec(sql);
  }

  Result<int64_t> QueryInt(const std::string& sql) override {
    Result<std::unique_ptr<sqlite::SqliteConnection>> db = Connect();
    if (!db.ok()) return db.status();
    Result<sqlite::Statement> select = (*db)->Prepare(sql);
    if (!select.ok()) return select.status();
    Result<bool> row = select->Step();
    if (!row.ok()) return row.status();
    if (!*row) return NotFound("no_row", sql);
    return select->ColumnInt64(0);
  }

  Result<OrderCounts> CountOrderRows() override {
    Result<std::unique_ptr<sqlite::SqliteConnection>> db = Connect();
    if (!db.ok()) return db.status();
    if (Status s = sqlite::AttachArchive(**db, sqlite::ArchivePath(path()), /*create=*/false);
        !s.ok()) {
      return s;
    }
    // UNION: an order in both files (a crash of the archive job) is one row.
    Result<sqlite::Statement> select = (*db)->Prepare(
        "SELECT status, count(*) FROM (SELECT order_id, status FROM main.orders UNION"
        " SELECT order_id, status FROM archive.orders) GROUP BY status");
    if (!select.ok()) return select.status();
    OrderCounts counts;
    while (true) {
      Result<bool> row = select->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      counts[static_cast<OrderStatus>(select->ColumnInt64(0))] = select->ColumnInt64(1);
    }
    return counts;
  }

  Status DatabaseServerCrash() override { return Status::Ok(); }

 private:
  std::string path() const { return dir_ + "/topup.db"; }
  Result<std::unique_ptr<sqlite::SqliteConnection>> Connect() {
    return sqlite::SqliteConnection::Open(path(), sqlite::SqliteConnection::Mode::kReadWrite, 5000);
  }

  const std::string dir_;
};

class PostgresBackend final : public StoreBackend {
 public:
  PostgresBackend(testing::PostgresServer* server, std::string database, std::string url)
      : server_(server), database_(std::move(database)), url_(std::move(url)) {}
  ~PostgresBackend() override {
    Status dropped = server_->DropDatabase(database_);
    EXPECT_TRUE(dropped.ok()) << dropped.ToString();
  }

  Result<std::unique_ptr<Store>> Open() override {
    PostgresStoreOptions options;
    options.url = url_;
    options.pool_size = 16;  // the suite's most concurrent tests run 16 threads on one store
    return OpenPostgresStore(options);
  }

  Status Execute(const std::string& sql) override {
    Result<std::unique_ptr<postgres::PgConnection>> db = Connect();
    if (!db.ok()) return db.status();
    return (*db)->Run(sql);
  }

  Result<int64_t> QueryInt(const std::string& sql) override {
    Result<std::unique_ptr<postgres::PgConnection>> db = Connect();
    if (!db.ok()) return db.status();
    postgres::PgResult result = (*db)->ExecuteOnce(sql, postgres::Params());
    if (!result.ok()) return result.ToStatus();
    if (result.rows() == 0) return NotFound("no_row", sql);
    return result.Int(0, 0);
  }

  Result<OrderCounts> CountOrderRows() override {
    Result<std::unique_ptr<postgres::PgConnection>> db = Connect();
    if (!db.ok()) return db.status();
    postgres::PgResult result = (*db)->ExecuteOnce(
        "SELECT status, count(*) FROM (SELECT status FROM orders UNION ALL"
        " SELECT status FROM archived_orders) a GROUP BY status",
        postgres::Params());
    if (!result.ok()) return result.ToStatus();
    OrderCounts counts;
    for (int row = 0; row < result.rows(); ++row) {
      counts[static_cast<OrderStatus>(result.Int(row, 0))] = result.Int(row, 1);
    }
    return counts;
  }

  Status DatabaseServerCrash() override { return server_->Restart(); }

 private:
  Result<std::unique_ptr<postgres::PgConnection>> Connect() {
    return postgres::PgConnection::Open(url_, 5, 30'000);
  }

  testing::PostgresServer* const server_;
  const std::string database_;
  const std::string url_;
};

// Owns the process's PostgreSQL server and stops it after the last test.
class PostgresEnvironment final : public ::testing::Environment {
 public:
  void TearDown() override {
    std::lock_guard<std::mutex> lock(mu_);
    server_.reset();
  }

  Result<testing::PostgresServer*> Server() {
    std::lock_guard<std::mutex> lock(mu_);
    if (server_ == nullptr && start_error_.ok()) {
      Result<std::unique_ptr<testing::PostgresServer>> started = testing::PostgresServer::Start();
      if (started.ok()) {
        server_ = std::move(started).value();
      } else {
        start_error_ = started.status();  // later tests fail fast with the same reason
      }
    }
    if (!start_error_.ok()) return start_error_;
    return server_.get();
  }

 private:
  std::mutex mu_;
  std::unique_ptr<testing::PostgresServer> server_;
  Status start_error_;
};

PostgresEnvironment* const postgres_environment = [] {
  auto* environment = new PostgresEnvironment;
  ::testing::AddGlobalTestEnvironment(environment);  // takes ownership
  return environment;
}();

}  // namespace

Status StoreBackend::CrashAfter(const std::function<Store*()>& writes) {
  int ready[2];
  if (pipe(ready) != 0) return Unavailable("no_pipe", "pipe failed");
  const pid_t child = fork();
  if (child < 0) return Unavailable("no_fork", "fork failed");
  if (child == 0) {
    close(ready[0]);
    Store* store = writes();
    if (store == nullptr) _exit(1);
    bool told = false;
    for (;;) {  // until SIGKILL; a failed commit is tried again
      if (store->ProbeCommit().ok() && !told) {
        told = write(ready[1], "r", 1) == 1;
      }
    }
  }
  close(ready[1]);
  // Wait (bounded) until the child's writes are done and it commits again, then kill it.
  pollfd readable{ready[0], POLLIN, 0};
  char byte = 0;
  const bool child_ready = poll(&readable, 1, 60'000) == 1 && read(ready[0], &byte, 1) == 1;
  if (child_ready) usleep(20'000);  // a few more commits, so the kill lands in one
  kill(child, SIGKILL);
  int wait_status = 0;
  waitpid(child, &wait_status, 0);
  close(ready[0]);
  if (!child_ready) return Internal("the crashing child's writes failed");
  if (!WIFSIGNALED(wait_status) || WTERMSIG(wait_status) != SIGKILL) {
    return Internal("the crashing child was not killed by SIGKILL");
  }
  return DatabaseServerCrash();
}

std::vector<std::string> BackendNames() { return {"sqlite", "postgres"}; }

Result<testing::PostgresServer*> SharedPostgresServer() { return postgres_environment->Server(); }

Result<std::unique_ptr<StoreBackend>> MakeBackend(const std::string& name) {
  if (name == "sqlite") {
    std::string pattern = (std::filesystem::temp_directory_path() / "topup_store_XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      return Unavailable("no_temp_dir", "mkdtemp failed for " + pattern);
    }
    return std::unique_ptr<StoreBackend>(std::make_unique<SqliteBackend>(pattern));
  }
  if (name == "postgres") {
    Result<testing::PostgresServer*> server = SharedPostgresServer();
    if (!server.ok()) return server.status();
    static std::atomic<int> databases{0};
    const std::string database = "store_" + std::to_string(++databases);
    Result<std::string> url = (*server)->CreateDatabase(database);
    if (!url.ok()) return url.status();
    return std::unique_ptr<StoreBackend>(
        std::make_unique<PostgresBackend>(*server, database, *url));
  }
  return InvalidArgument("unknown_backend", "no store backend '" + name + "'");
}

Order MakeOrder(const std::string& order_id, const std::string& merchant_id,
                const std::string& merchant_order_id, int64_t price_fen, int64_t now_ms) {
  Order order;
  order.order_id = order_id;
  order.merchant_id = merchant_id;
  order.merchant_order_id = merchant_order_id;
  order.phone = "13800138000";
  order.carrier = Carrier::kChinaMobile;
  order.face_value_yuan = 10;
  order.price_fen = price_fen;
  order.notify_url = "http://127.0.0.1:9/notify";
  order.status = OrderStatus::kAccepted;
  order.created_ms = now_ms;
  order.deadline_ms = now_ms + 180'000;
  order.updated_ms = now_ms;
  order.next_check_ms = now_ms;
  return order;
}

Transition StartAttempt(const Order& order, OrderStatus to, int64_t now_ms,
                        const std::string& channel) {
  Transition t;
  t.order_id = order.order_id;
  t.from = order.status;
  t.from_attempt_count = order.attempt_count;
  t.to = to;
  t.now_ms = now_ms;
  t.attempt = Transition::Attempt::kStart;
  t.supplier_order_id = SupplierOrderId(order.order_id, order.attempt_count + 1);
  t.channel = channel;
  t.next_check_ms = now_ms + 5000;
  t.event_kind = "attempt_started";
  return t;
}

Transition Move(const Order& order, OrderStatus to, int64_t now_ms, Transition::Attempt attempt,
                const std::string& event_kind) {
  Transition t;
  t.order_id = order.order_id;
  t.from = order.status;
  t.from_attempt_count = order.attempt_count;
  t.to = to;
  t.now_ms = now_ms;
  t.attempt = attempt;
  t.next_check_ms = now_ms + 5000;
  t.event_kind = event_kind;
  if (to == OrderStatus::kFailed) t.fail_reason = "supplier_failed";
  return t;
}

}  // namespace topup::store_conformance
