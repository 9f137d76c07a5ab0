// The Store backends the conformance suite runs against, each behind one small interface, and the
// order builders the store tests share.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "testing/postgres_server.h"
#include "topup/order.h"
#include "topup/status.h"
#include "topup/store.h"

namespace topup::store_conformance {

// One backend holding one fresh, empty database for one test.
class StoreBackend {
 public:
  virtual ~StoreBackend() = default;
  // Opens a store on this backend's database. Each call gives an independent store (its own
  // connections or file handles) on the same data, as each node of a deployment would have.
  virtual Result<std::unique_ptr<Store>> Open() = 0;
  // Runs SQL on the database behind the stores' backs: to tamper with it, or to look at it.
  virtual Status Execute(const std::string& sql) = 0;
  // The first column of the first row of `sql`.
  virtual Result<int64_t> QueryInt(const std::string& sql) = 0;
  // The orders by status counted from the rows of the hot and the archive tables (GROUP BY), each
  // order once: what CountOrders must answer. Statuses without orders are absent.
  virtual Result<OrderCounts> CountOrderRows() = 0;
  // The database server goes away abruptly and comes back. REQUIRES: every store on it is
  // closed. SQLite has no server, so there it does nothing; PostgreSQL is stopped with an
  // immediate shutdown and recovers from its WAL.
  virtual Status DatabaseServerCrash() = 0;

  // A node crashes with its store open: `writes` runs in a child process (fork) and returns the
  // store it wrote through, or null if it failed; the child then keeps committing through that
  // store until it is killed with SIGKILL, so the store is never closed (no checkpoint, no clean
  // shutdown, a commit cut short). Then DatabaseServerCrash(). REQUIRES: no store of this process
  // is open, and no other thread runs.
  Status CrashAfter(const std::function<Store*()>& writes);
};

// "sqlite" or "postgres".
std::vector<std::string> BackendNames();
// A backend with a fresh database. For "postgres", the first call of the process starts a private
// server, which stays up until the end of the test program.
Result<std::unique_ptr<StoreBackend>> MakeBackend(const std::string& name);
// The private PostgreSQL server of this test process, started on first use.
Result<testing::PostgresServer*> SharedPostgresServer();

inline constexpr int64_t kT0Ms = 1'700'000'000'000;

// A new order as the API would build it: accepted, no attempt, due at once.
Order MakeOrder(const std::string& order_id, const std::string& merchant_id,
                const std::string& merchant_order_id, int64_t price_fen = 1000,
                int64_t now_ms = kT0Ms);

// The transition that starts the next attempt of `order` on `channel`.
Transition StartAttempt(const Order& order, OrderStatus to, int64_t now_ms,
                        const std::string& channel = "sim");

// A transition of `order` to `to` that keeps or clears the live attempt.
Transition Move(const Order& order, OrderStatus to, int64_t now_ms, Transition::Attempt attempt,
                const std::string& event_kind);

}  // namespace topup::store_conformance
