#include "store/sqlite/schema.h"

#include <string>

namespace topup::sqlite {
namespace {

// Integer codes are those of OrderStatus (0 accepted .. 4 failed), Carrier and LedgerKind
// (0 fund, 1 debit, 2 refund). Money is INTEGER fen.
//
// orders is WITHOUT ROWID: it is looked up and updated by order_id on every write, so clustering
// it on that key saves one b-tree per write. order_events and ledger are append-only, which
// triggers enforce; ledger_once_per_order makes a second debit or refund of one order impossible
// whatever the code above does.
constexpr std::string_view kInitialSchema = R"sql(
CREATE TABLE merchants (
  merchant_id TEXT NOT NULL PRIMARY KEY CHECK (length(merchant_id) BETWEEN 1 AND 64),
  name TEXT NOT NULL,
  balance_fen INTEGER NOT NULL CHECK (balance_fen >= 0),
  created_ms INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE orders (
  order_id TEXT NOT NULL PRIMARY KEY CHECK (length(order_id) BETWEEN 1 AND 64),
  merchant_id TEXT NOT NULL REFERENCES merchants (merchant_id),
  merchant_order_id TEXT NOT NULL,
  phone TEXT NOT NULL,
  carrier INTEGER NOT NULL CHECK (carrier BETWEEN 0 AND 4),
  face_value_yuan INTEGER NOT NULL CHECK (face_value_yuan > 0),
  price_fen INTEGER NOT NULL CHECK (price_fen >= 0),
  notify_url TEXT NOT NULL,
  status INTEGER NOT NULL CHECK (status BETWEEN 0 AND 4),
  attempt_count INTEGER NOT NULL CHECK (attempt_count >= 0),
  supplier_order_id TEXT NOT NULL,
  attempt_sent_ms INTEGER NOT NULL,
  channel TEXT NOT NULL,
  supplier_ref TEXT NOT NULL,
  fail_reason TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  deadline_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  finished_ms INTEGER NOT NULL,
  next_check_ms INTEGER NOT NULL,
  lease_owner TEXT NOT NULL,
  lease_expires_ms INTEGER NOT NULL,
  UNIQUE (merchant_id, merchant_order_id),
  CHECK ((status IN (3, 4)) = (finished_ms > 0)),
  CHECK (status <> 4 OR supplier_order_id = '')
) WITHOUT ROWID;

-- The sweeper's scan: open orders by due time. The WHERE must match the queries' literally.
CREATE INDEX orders_due ON orders (next_check_ms) WHERE status IN (0, 1, 2);

CREATE TABLE order_events (
  event_id INTEGER PRIMARY KEY AUTOINCREMENT,
  order_id TEXT NOT NULL REFERENCES orders (order_id),
  at_ms INTEGER NOT NULL,
  kind TEXT NOT NULL CHECK (kind <> ''),
  from_status INTEGER NOT NULL CHECK (from_status BETWEEN 0 AND 4),
  to_status INTEGER NOT NULL CHECK (to_status BETWEEN 0 AND 4),
  attempt_no INTEGER NOT NULL CHECK (attempt_no >= 0),
  detail TEXT NOT NULL
);
CREATE INDEX order_events_by_order ON order_events (order_id, event_id);
CREATE TRIGGER order_events_no_update BEFORE UPDATE ON order_events
BEGIN SELECT RAISE(ABORT, 'order_events is append-only'); END;
CREATE TRIGGER order_events_no_delete BEFORE DELETE ON order_events
BEGIN SELECT RAISE(ABORT, 'order_events is append-only'); END;

CREATE TABLE ledger (
  entry_id INTEGER PRIMARY KEY AUTOINCREMENT,
  merchant_id TEXT NOT NULL REFERENCES merchants (merchant_id),
  order_id TEXT REFERENCES orders (order_id),
  kind INTEGER NOT NULL CHECK (kind BETWEEN 0 AND 2),
  amount_fen INTEGER NOT NULL,
  balance_after_fen INTEGER NOT NULL CHECK (balance_after_fen >= 0),
  created_ms INTEGER NOT NULL,
  note TEXT NOT NULL,
  CHECK ((kind = 0) = (order_id IS NULL)),
  CHECK (kind <> 0 OR amount_fen > 0),
  CHECK (kind <> 1 OR amount_fen <= 0),
  CHECK (kind <> 2 OR amount_fen >= 0)
);
CREATE UNIQUE INDEX ledger_once_per_order ON ledger (order_id, kind) WHERE order_id IS NOT NULL;
CREATE INDEX ledger_by_merchant ON ledger (merchant_id, entry_id);
CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN SELECT RAISE(ABORT, 'ledger is append-only'); END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN SELECT RAISE(ABORT, 'ledger is append-only'); END;
)sql";

// AUTOINCREMENT made every insert into the two append-only tables also update sqlite_sequence.
// Nothing is ever deleted from them (triggers forbid it), so a plain INTEGER PRIMARY KEY, which
// takes max(id) + 1, hands out the same increasing ids for less work. Rebuilds both tables with
// their rows, ids, indexes and triggers.
constexpr std::string_view kPlainRowIds = R"sql(
CREATE TABLE order_events_new (
  event_id INTEGER PRIMARY KEY,
  order_id TEXT NOT NULL REFERENCES orders (order_id),
  at_ms INTEGER NOT NULL,
  kind TEXT NOT NULL CHECK (kind <> ''),
  from_status INTEGER NOT NULL CHECK (from_status BETWEEN 0 AND 4),
  to_status INTEGER NOT NULL CHECK (to_status BETWEEN 0 AND 4),
  attempt_no INTEGER NOT NULL CHECK (attempt_no >= 0),
  detail TEXT NOT NULL
);
INSERT INTO order_events_new SELECT * FROM order_events ORDER BY event_id;
DROP TABLE order_events;
ALTER TABLE order_events_new RENAME TO order_events;
CREATE INDEX order_events_by_order ON order_events (order_id, event_id);
CREATE TRIGGER order_events_no_update BEFORE UPDATE ON order_events
BEGIN SELECT RAISE(ABORT, 'order_events is append-only'); END;
CREATE TRIGGER order_events_no_delete BEFORE DELETE ON order_events
BEGIN SELECT RAISE(ABORT, 'order_events is append-only'); END;

CREATE TABLE ledger_new (
  entry_id INTEGER PRIMARY KEY,
  merchant_id TEXT NOT NULL REFERENCES merchants (merchant_id),
  order_id TEXT REFERENCES orders (order_id),
  kind INTEGER NOT NULL CHECK (kind BETWEEN 0 AND 2),
  amount_fen INTEGER NOT NULL,
  balance_after_fen INTEGER NOT NULL CHECK (balance_after_fen >= 0),
  created_ms INTEGER NOT NULL,
  note TEXT NOT NULL,
  CHECK ((kind = 0) = (order_id IS NULL)),
  CHECK (kind <> 0 OR amount_fen > 0),
  CHECK (kind <> 1 OR amount_fen <= 0),
  CHECK (kind <> 2 OR amount_fen >= 0)
);
INSERT INTO ledger_new SELECT * FROM ledger ORDER BY entry_id;
DROP TABLE ledger;
ALTER TABLE ledger_new RENAME TO ledger;
CREATE UNIQUE INDEX ledger_once_per_order ON ledger (order_id, kind) WHERE order_id IS NOT NULL;
CREATE INDEX ledger_by_merchant ON ledger (merchant_id, entry_id);
CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN SELECT RAISE(ABORT, 'ledger is append-only'); END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN SELECT RAISE(ABORT, 'ledger is append-only'); END;
)sql";

// "status IN (...)" makes SQLite build a temporary table each time it evaluates the list, and the
// orders CHECK and the orders_due predicate are evaluated on every write of an order. The same
// conditions as comparisons cost nothing. Rebuilds orders (the only way to change a CHECK) with
// its rows and indexes.
constexpr std::string_view kComparisonsForStatus = R"sql(
CREATE TABLE orders_new (
  order_id TEXT NOT NULL PRIMARY KEY CHECK (length(order_id) BETWEEN 1 AND 64),
  merchant_id TEXT NOT NULL REFERENCES merchants (merchant_id),
  merchant_order_id TEXT NOT NULL,
  phone TEXT NOT NULL,
  carrier INTEGER NOT NULL CHECK (carrier BETWEEN 0 AND 4),
  face_value_yuan INTEGER NOT NULL CHECK (face_value_yuan > 0),
  price_fen INTEGER NOT NULL CHECK (price_fen >= 0),
  notify_url TEXT NOT NULL,
  status INTEGER NOT NULL CHECK (status BETWEEN 0 AND 4),
  attempt_count INTEGER NOT NULL CHECK (attempt_count >= 0),
  supplier_order_id TEXT NOT NULL,
  attempt_sent_ms INTEGER NOT NULL,
  channel TEXT NOT NULL,
  supplier_ref TEXT NOT NULL,
  fail_reason TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  deadline_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  finished_ms INTEGER NOT NULL,
  next_check_ms INTEGER NOT NULL,
  lease_owner TEXT NOT NULL,
  lease_expires_ms INTEGER NOT NULL,
  UNIQUE (merchant_id, merchant_order_id),
  CHECK ((status >= 3) = (finished_ms > 0)),
  CHECK (status <> 4 OR supplier_order_id = '')
) WITHOUT ROWID;
INSERT INTO orders_new SELECT * FROM orders;
DROP TABLE orders;
ALTER TABLE orders_new RENAME TO orders;
-- The sweeper's scan: open orders by due time. The WHERE must match the queries' literally.
CREATE INDEX orders_due ON orders (next_check_ms) WHERE status < 3;
)sql";

// Merchant API keys. A key takes one of its merchant's two slots while active; the partial unique
// index makes a third active key impossible whatever the code above does. Revoked keys are kept,
// so a key id never comes back.
constexpr std::string_view kMerchantKeys = R"sql(
CREATE TABLE merchant_keys (
  key_id TEXT NOT NULL PRIMARY KEY CHECK (length(key_id) BETWEEN 1 AND 64),
  merchant_id TEXT NOT NULL REFERENCES merchants (merchant_id),
  slot INTEGER NOT NULL CHECK (slot BETWEEN 1 AND 2),
  sealed_secret TEXT NOT NULL CHECK (sealed_secret <> ''),
  created_ms INTEGER NOT NULL,
  revoked_ms INTEGER NOT NULL CHECK (revoked_ms >= 0)
) WITHOUT ROWID;
CREATE UNIQUE INDEX merchant_keys_active_slot ON merchant_keys (merchant_id, slot)
  WHERE revoked_ms = 0;
CREATE INDEX merchant_keys_by_merchant ON merchant_keys (merchant_id, created_ms);
CREATE TRIGGER merchant_keys_no_delete BEFORE DELETE ON merchant_keys
BEGIN SELECT RAISE(ABORT, 'merchant keys are revoked, never deleted'); END;
)sql";

// The notification outbox. The trigger is the one place that writes a row: it fires inside the
// statement that makes an order final, so the row commits or rolls back with the final state
// whatever path wrote it, and UNIQUE (order_id) makes a second one impossible. Tries are
// append-only history.
constexpr std::string_view kNotificationOutbox = R"sql(
CREATE TABLE notifications (
  notification_id INTEGER PRIMARY KEY,
  order_id TEXT NOT NULL UNIQUE REFERENCES orders (order_id),
  merchant_id TEXT NOT NULL REFERENCES merchants (merchant_id),
  notify_url TEXT NOT NULL CHECK (notify_url <> ''),
  order_status INTEGER NOT NULL CHECK (order_status IN (3, 4)),
  state INTEGER NOT NULL CHECK (state BETWEEN 0 AND 2),
  schedule_start_ms INTEGER NOT NULL,
  tries INTEGER NOT NULL CHECK (tries >= 0),
  next_try_ms INTEGER NOT NULL,
  delivered_ms INTEGER NOT NULL,
  lease_owner TEXT NOT NULL,
  lease_expires_ms INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  CHECK ((state = 1) = (delivered_ms > 0))
);
-- The notifier's scan: pending rows by due time. The WHERE must match the queries' literally.
CREATE INDEX notifications_due ON notifications (next_try_ms) WHERE state = 0;

CREATE TABLE notification_tries (
  try_id INTEGER PRIMARY KEY,
  notification_id INTEGER NOT NULL REFERENCES notifications (notification_id),
  at_ms INTEGER NOT NULL,
  http_status INTEGER NOT NULL,
  error TEXT NOT NULL,
  latency_ms INTEGER NOT NULL
);
CREATE INDEX notification_tries_by_notification ON notification_tries (notification_id, try_id);
CREATE TRIGGER notification_tries_no_update BEFORE UPDATE ON notification_tries
BEGIN SELECT RAISE(ABORT, 'notification_tries is append-only'); END;

CREATE TRIGGER orders_final_notify AFTER UPDATE OF status ON orders
WHEN NEW.status >= 3 AND OLD.status < 3 AND NEW.notify_url <> ''
BEGIN
  INSERT INTO notifications (order_id, merchant_id, notify_url, order_status, state,
    schedule_start_ms, tries, next_try_ms, delivered_ms, lease_owner, lease_expires_ms, created_ms)
  VALUES (NEW.order_id, NEW.merchant_id, NEW.notify_url, NEW.status, 0, NEW.finished_ms, 0,
    NEW.finished_ms, 0, '', 0, NEW.finished_ms);
END;
)sql";

// Final orders may leave for the archive file (see archive.h): the ledger, which stays whole in
// this file, keeps the order id of an archived order without a foreign key to it (rebuilt, the
// only way to drop one), and the events of a final order may be deleted, which the archive job
// does only after it committed their copies to the archive. Events of an order that is still open
// stay append-only.
constexpr std::string_view kArchivableOrders = R"sql(
CREATE TABLE ledger_new (
  entry_id INTEGER PRIMARY KEY,
  merchant_id TEXT NOT NULL REFERENCES merchants (merchant_id),
  order_id TEXT,
  kind INTEGER NOT NULL CHECK (kind BETWEEN 0 AND 2),
  amount_fen INTEGER NOT NULL,
  balance_after_fen INTEGER NOT NULL CHECK (balance_after_fen >= 0),
  created_ms INTEGER NOT NULL,
  note TEXT NOT NULL,
  CHECK ((kind = 0) = (order_id IS NULL)),
  CHECK (kind <> 0 OR amount_fen > 0),
  CHECK (kind <> 1 OR amount_fen <= 0),
  CHECK (kind <> 2 OR amount_fen >= 0)
);
INSERT INTO ledger_new SELECT * FROM ledger ORDER BY entry_id;
DROP TABLE ledger;
ALTER TABLE ledger_new RENAME TO ledger;
CREATE UNIQUE INDEX ledger_once_per_order ON ledger (order_id, kind) WHERE order_id IS NOT NULL;
CREATE INDEX ledger_by_merchant ON ledger (merchant_id, entry_id);
CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN SELECT RAISE(ABORT, 'ledger is append-only'); END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN SELECT RAISE(ABORT, 'ledger is append-only'); END;

DROP TRIGGER order_events_no_delete;
CREATE TRIGGER order_events_no_delete BEFORE DELETE ON order_events
WHEN coalesce((SELECT status < 3 FROM orders WHERE order_id = OLD.order_id), 0)
BEGIN SELECT RAISE(ABORT, 'the events of an open order are append-only'); END;
)sql";

// The counts of orders by status that CountOrders reads, so that it reads five rows instead of
// every order: the writer changes them in the transaction of each accept and status change. They
// count every order ever accepted, hot or archived (the archive job changes no count), so they
// start from both files; an order found in both (a crash of the archive job) counts once. The
// store attaches the archive before it migrates.
constexpr std::string_view kOrderCounts = R"sql(
CREATE TABLE order_counts (
  status INTEGER NOT NULL PRIMARY KEY CHECK (status BETWEEN 0 AND 4),
  orders INTEGER NOT NULL
);
INSERT INTO order_counts (status, orders) VALUES (0, 0), (1, 0), (2, 0), (3, 0), (4, 0);
UPDATE order_counts SET orders = n.orders FROM (SELECT status, count(*) AS orders FROM (
  SELECT order_id, status FROM main.orders UNION SELECT order_id, status FROM archive.orders)
  GROUP BY status) AS n WHERE order_counts.status = n.status;
)sql";

constexpr Migration kMigrations[] = {
    {1, "initial schema", kInitialSchema},
    {2, "plain row ids for events and ledger", kPlainRowIds},
    {3, "comparisons for order status", kComparisonsForStatus},
    {4, "merchant api keys", kMerchantKeys},
    {5, "notification outbox", kNotificationOutbox},
    {6, "archivable orders", kArchivableOrders},
    {7, "order counts", kOrderCounts},
};

}  // namespace

std::span<const Migration> StoreMigrations() { return kMigrations; }

Result<int> SchemaVersion(SqliteConnection& connection) {
  Result<Statement> exists = connection.Prepare(
      "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_version'");
  if (!exists.ok()) return exists.status();
  Result<bool> row = exists->Step();
  if (!row.ok()) return row.status();
  if (!*row || exists->ColumnInt64(0) == 0) return 0;

  Result<Statement> max =
      connection.Prepare("SELECT coalesce(max(version), 0) FROM schema_version");
  if (!max.ok()) return max.status();
  row = max->Step();
  if (!row.ok()) return row.status();
  if (!*row) return Internal("schema_version: no row from max()");
  return static_cast<int>(max->ColumnInt64(0));
}

namespace {

Status ApplyMigrationsWithoutForeignKeys(SqliteConnection& connection,
                                         std::span<const Migration> migrations) {
  // IMMEDIATE takes the write lock before reading the version, so two processes opening the same
  // old file cannot both apply the same migration.
  Status status = connection.Exec("BEGIN IMMEDIATE");
  if (!status.ok()) return status;
  status = [&]() -> Status {
    Status s = connection.Exec(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY,"
        " name TEXT NOT NULL,"
        " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))");
    if (!s.ok()) return s;
    Result<int> current = SchemaVersion(connection);
    if (!current.ok()) return current.status();
    if (*current > static_cast<int>(migrations.size())) {
      return FailedPrecondition("schema_too_new", "database schema version " +
                                                      std::to_string(*current) +
                                                      " is newer than this program's " +
                                                      std::to_string(migrations.size()));
    }
    for (const Migration& migration : migrations.subspan(static_cast<size_t>(*current))) {
      s = connection.Exec(std::string(migration.sql));
      if (!s.ok()) {
        return Internal("migration " + std::to_string(migration.version) + " (" +
                        std::string(migration.name) + ") failed: " + s.message());
      }
      Result<Statement> record =
          connection.Prepare("INSERT INTO schema_version (version, name) VALUES (?1, ?2)");
      if (!record.ok()) return record.status();
      record->BindInt64(1, migration.version).BindTextCopy(2, migration.name);
      s = record->Run();
      if (!s.ok()) return s;
    }
    // The check reads every row that has a foreign key (seconds for a store of 10^6 orders), so
    // it runs only when migrations were applied: a current file is left as it was.
    if (*current == static_cast<int>(migrations.size())) return Status::Ok();
    Result<Statement> check = connection.Prepare("PRAGMA foreign_key_check");
    if (!check.ok()) return check.status();
    Result<bool> violation = check->Step();
    if (!violation.ok()) return violation.status();
    if (*violation) {
      return Internal("migrations left a foreign key violation in table " + check->ColumnText(0));
    }
    return Status::Ok();
  }();
  if (!status.ok()) {
    // Rolls back every migration of this call; a failure to roll back leaves nothing committed
    // either, since the connection is closed by the caller.
    (void)connection.Exec("ROLLBACK");
    return status;
  }
  return connection.Exec("COMMIT");
}

}  // namespace

Status ApplyMigrations(SqliteConnection& connection, std::span<const Migration> migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i) + 1) {
      return Internal("migrations are not numbered 1..n in order");
    }
  }
  if (connection.InTransaction()) return Internal("ApplyMigrations inside a transaction");

  // A migration may rebuild a table that others refer to, which SQLite allows only with foreign
  // keys off (they cannot be switched inside a transaction); foreign_key_check proves the result
  // before it commits.
  bool foreign_keys = false;
  {
    Result<Statement> setting = connection.Prepare("PRAGMA foreign_keys");
    if (!setting.ok()) return setting.status();
    Result<bool> row = setting->Step();
    if (!row.ok()) return row.status();
    foreign_keys = *row && setting->ColumnInt64(0) != 0;
  }
  Status status = connection.Exec("PRAGMA foreign_keys=OFF");
  if (!status.ok()) return status;
  status = ApplyMigrationsWithoutForeignKeys(connection, migrations);
  if (!foreign_keys) return status;
  Status restored = connection.Exec("PRAGMA foreign_keys=ON");
  return status.ok() ? restored : status;
}

}  // namespace topup::sqlite
