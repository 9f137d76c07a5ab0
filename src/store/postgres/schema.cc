#include "store/postgres/schema.h"

#include <string>

namespace topup::postgres {
namespace {

// Integer codes are those of OrderStatus (0 accepted .. 4 failed), Carrier and LedgerKind
// (0 fund, 1 debit, 2 refund). Money and times are BIGINT fen and milliseconds.
//
// Identifiers use the "C" collation: ORDER BY and paging by order_id follow byte order, as in
// SQLite, whatever the database's locale. order_events and ledger are append-only, which a
// statement trigger enforces; ledger_once_per_order makes a second debit or refund of one order
// impossible whatever the code above does.
constexpr std::string_view kInitialSchema = R"sql(
CREATE TABLE merchants (
  merchant_id TEXT COLLATE "C" NOT NULL PRIMARY KEY CHECK (length(merchant_id) BETWEEN 1 AND 64),
  name TEXT NOT NULL,
  balance_fen BIGINT NOT NULL CHECK (balance_fen >= 0),
  created_ms BIGINT NOT NULL
);

CREATE TABLE orders (
  order_id TEXT COLLATE "C" NOT NULL PRIMARY KEY CHECK (length(order_id) BETWEEN 1 AND 64),
  merchant_id TEXT COLLATE "C" NOT NULL REFERENCES merchants (merchant_id),
  merchant_order_id TEXT COLLATE "C" NOT NULL,
  phone TEXT NOT NULL,
  carrier INTEGER NOT NULL CHECK (carrier BETWEEN 0 AND 4),
  face_value_yuan INTEGER NOT NULL CHECK (face_value_yuan > 0),
  price_fen BIGINT NOT NULL CHECK (price_fen >= 0),
  notify_url TEXT NOT NULL,
  status INTEGER NOT NULL CHECK (status BETWEEN 0 AND 4),
  attempt_count INTEGER NOT NULL CHECK (attempt_count >= 0),
  supplier_order_id TEXT NOT NULL,
  attempt_sent_ms BIGINT NOT NULL,
  channel TEXT NOT NULL,
  supplier_ref TEXT NOT NULL,
  fail_reason TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  deadline_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL,
  finished_ms BIGINT NOT NULL,
  next_check_ms BIGINT NOT NULL,
  lease_owner TEXT NOT NULL,
  lease_expires_ms BIGINT NOT NULL,
  UNIQUE (merchant_id, merchant_order_id),
  CHECK ((status IN (3, 4)) = (finished_ms > 0)),
  CHECK (status <> 4 OR supplier_order_id = '')
);

-- The sweeper's scan: open orders by due time. The WHERE must match the queries' literally.
CREATE INDEX orders_due ON orders (next_check_ms) WHERE status IN (0, 1, 2);

CREATE FUNCTION topup_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END
$$;

CREATE TABLE order_events (
  event_id BIGSERIAL PRIMARY KEY,
  order_id TEXT COLLATE "C" NOT NULL REFERENCES orders (order_id),
  at_ms BIGINT NOT NULL,
  kind TEXT NOT NULL CHECK (kind <> ''),
  from_status INTEGER NOT NULL CHECK (from_status BETWEEN 0 AND 4),
  to_status INTEGER NOT NULL CHECK (to_status BETWEEN 0 AND 4),
  attempt_no INTEGER NOT NULL CHECK (attempt_no >= 0),
  detail TEXT NOT NULL
);
CREATE INDEX order_events_by_order ON order_events (order_id, event_id);
CREATE TRIGGER order_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON order_events
  FOR EACH STATEMENT EXECUTE FUNCTION topup_refuse_change();

CREATE TABLE ledger (
  entry_id BIGSERIAL PRIMARY KEY,
  merchant_id TEXT COLLATE "C" NOT NULL REFERENCES merchants (merchant_id),
  order_id TEXT COLLATE "C" REFERENCES orders (order_id),
  kind INTEGER NOT NULL CHECK (kind BETWEEN 0 AND 2),
  amount_fen BIGINT NOT NULL,
  balance_after_fen BIGINT NOT NULL CHECK (balance_after_fen >= 0),
  created_ms BIGINT NOT NULL,
  note TEXT NOT NULL,
  CHECK ((kind = 0) = (order_id IS NULL)),
  CHECK (kind <> 0 OR amount_fen > 0),
  CHECK (kind <> 1 OR amount_fen <= 0),
  CHECK (kind <> 2 OR amount_fen >= 0)
);
CREATE UNIQUE INDEX ledger_once_per_order ON ledger (order_id, kind) WHERE order_id IS NOT NULL;
CREATE INDEX ledger_by_merchant ON ledger (merchant_id, entry_id);
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger
  FOR EACH STATEMENT EXECUTE FUNCTION topup_refuse_change();
)sql";

// Merchant API keys. A key takes one of its merchant's two slots while active; the partial unique
// index makes a third active key impossible, also when two nodes add keys at once. Revoked keys
// are kept, so a key id never comes back.
constexpr std::string_view kMerchantKeys = R"sql(
CREATE TABLE merchant_keys (
  key_id TEXT COLLATE "C" NOT NULL PRIMARY KEY CHECK (length(key_id) BETWEEN 1 AND 64),
  merchant_id TEXT COLLATE "C" NOT NULL REFERENCES merchants (merchant_id),
  slot INTEGER NOT NULL CHECK (slot BETWEEN 1 AND 2),
  sealed_secret TEXT NOT NULL CHECK (sealed_secret <> ''),
  created_ms BIGINT NOT NULL,
  revoked_ms BIGINT NOT NULL CHECK (revoked_ms >= 0)
);
CREATE UNIQUE INDEX merchant_keys_active_slot ON merchant_keys (merchant_id, slot)
  WHERE revoked_ms = 0;
CREATE INDEX merchant_keys_by_merchant ON merchant_keys (merchant_id, created_ms);
)sql";

// The notification outbox. The trigger is the one place that writes a row: it fires inside the
// statement that makes an order final, so the row commits or rolls back with the final state
// whatever path wrote it, and UNIQUE (order_id) makes a second one impossible. Tries are
// append-only history.
constexpr std::string_view kNotificationOutbox = R"sql(
CREATE TABLE notifications (
  notification_id BIGSERIAL PRIMARY KEY,
  order_id TEXT COLLATE "C" NOT NULL UNIQUE REFERENCES orders (order_id),
  merchant_id TEXT COLLATE "C" NOT NULL REFERENCES merchants (merchant_id),
  notify_url TEXT NOT NULL CHECK (notify_url <> ''),
  order_status INTEGER NOT NULL CHECK (order_status IN (3, 4)),
  state INTEGER NOT NULL CHECK (state BETWEEN 0 AND 2),
  schedule_start_ms BIGINT NOT NULL,
  tries INTEGER NOT NULL CHECK (tries >= 0),
  next_try_ms BIGINT NOT NULL,
  delivered_ms BIGINT NOT NULL,
  lease_owner TEXT NOT NULL,
  lease_expires_ms BIGINT NOT NULL,
  created_ms BIGINT NOT NULL,
  CHECK ((state = 1) = (delivered_ms > 0))
);
-- The notifier's scan: pending rows by due time. The WHERE must match the queries' literally.
CREATE INDEX notifications_due ON notifications (next_try_ms) WHERE state = 0;

CREATE TABLE notification_tries (
  try_id BIGSERIAL PRIMARY KEY,
  notification_id BIGINT NOT NULL REFERENCES notifications (notification_id),
  at_ms BIGINT NOT NULL,
  http_status INTEGER NOT NULL,
  error TEXT NOT NULL,
  latency_ms BIGINT NOT NULL
);
CREATE INDEX notification_tries_by_notification ON notification_tries (notification_id, try_id);
CREATE TRIGGER notification_tries_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
  ON notification_tries FOR EACH STATEMENT EXECUTE FUNCTION topup_refuse_change();

CREATE FUNCTION topup_notify_final_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO notifications (order_id, merchant_id, notify_url, order_status, state,
    schedule_start_ms, tries, next_try_ms, delivered_ms, lease_owner, lease_expires_ms, created_ms)
  VALUES (NEW.order_id, NEW.merchant_id, NEW.notify_url, NEW.status, 0, NEW.finished_ms, 0,
    NEW.finished_ms, 0, '', 0, NEW.finished_ms);
  RETURN NULL;
END
$$;
CREATE TRIGGER orders_final_notify AFTER UPDATE OF status ON orders FOR EACH ROW
  WHEN (NEW.status IN (3, 4) AND OLD.status NOT IN (3, 4) AND NEW.notify_url <> '')
  EXECUTE FUNCTION topup_notify_final_order();
)sql";

// Final orders may leave the hot tables for the archive tables (ArchiveFinalOrders), which have
// the hot tables' columns and keys but no CHECKs, triggers or foreign keys: every row was checked
// on its way into the hot tables and never changes there. The ledger stays whole and keeps the
// order id of an archived order, so its foreign key to orders goes; a constraint trigger of the
// same name still refuses a ledger row for an order that is not in the hot table when it is
// written (accept_order depends on that to roll back a debit whose order lost a race). The events
// of a final order and the tries of its notification may be deleted, which the archive job does
// in the transaction that copies them; the events of an open order stay append-only. The archive
// job copies rows with SELECT *, so a migration that adds a column to a hot table adds it to its
// archive table too, in the same place.
constexpr std::string_view kArchivableOrders = R"sql(
ALTER TABLE ledger DROP CONSTRAINT ledger_order_id_fkey;
CREATE FUNCTION topup_ledger_order_exists() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM orders WHERE order_id = NEW.order_id) THEN
    RAISE EXCEPTION 'ledger entry for order % which is not in orders', NEW.order_id
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'ledger_order_id_fkey';
  END IF;
  RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER ledger_order_id_fkey AFTER INSERT ON ledger FOR EACH ROW
  WHEN (NEW.order_id IS NOT NULL) EXECUTE FUNCTION topup_ledger_order_exists();

DROP TRIGGER order_events_append_only ON order_events;
CREATE TRIGGER order_events_append_only BEFORE UPDATE OR TRUNCATE ON order_events
  FOR EACH STATEMENT EXECUTE FUNCTION topup_refuse_change();
CREATE FUNCTION topup_refuse_open_event_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM orders WHERE order_id = OLD.order_id AND status IN (0, 1, 2)) THEN
    RAISE EXCEPTION 'the events of an open order are append-only';
  END IF;
  RETURN OLD;
END
$$;
CREATE TRIGGER order_events_open_append_only BEFORE DELETE ON order_events FOR EACH ROW
  EXECUTE FUNCTION topup_refuse_open_event_delete();
DROP TRIGGER notification_tries_append_only ON notification_tries;
CREATE TRIGGER notification_tries_append_only BEFORE UPDATE OR TRUNCATE ON notification_tries
  FOR EACH STATEMENT EXECUTE FUNCTION topup_refuse_change();

CREATE TABLE archived_orders (LIKE orders);
ALTER TABLE archived_orders ADD PRIMARY KEY (order_id),
  ADD UNIQUE (merchant_id, merchant_order_id);
CREATE TABLE archived_order_events (LIKE order_events);
ALTER TABLE archived_order_events ADD PRIMARY KEY (event_id);
CREATE INDEX archived_order_events_by_order ON archived_order_events (order_id, event_id);
CREATE TABLE archived_notifications (LIKE notifications);
ALTER TABLE archived_notifications ADD PRIMARY KEY (notification_id), ADD UNIQUE (order_id);
CREATE TABLE archived_notification_tries (LIKE notification_tries);
ALTER TABLE archived_notification_tries ADD PRIMARY KEY (try_id);
CREATE INDEX archived_notification_tries_by_notification
  ON archived_notification_tries (notification_id, try_id);
)sql";

// The foreign keys from orders and notifications to merchants go: each insert took a share lock
// on its merchant's row, which accept batches of that merchant hold for update at the same time,
// so that every such lock became a multixact on the busiest row of the database. What they
// guaranteed still holds without them: merchants are never deleted, every order is written in the
// transaction that debits its merchant, whose ledger row references the merchant
// (ledger_merchant_id_fkey stays, and ledger_order_id_fkey ties that row to the order), and a
// notification's merchant is its order's, copied by orders_final_notify.
constexpr std::string_view kFewerMerchantLocks = R"sql(
ALTER TABLE orders DROP CONSTRAINT orders_merchant_id_fkey;
ALTER TABLE notifications DROP CONSTRAINT notifications_merchant_id_fkey;
)sql";

// The counts of orders by status that CountOrders reads, so that it reads a few rows instead of
// every order: the writes change them in the transaction of each accept and status change. A
// single row per status would make every transaction of every node that writes orders wait for
// the last one to commit, so each status has 32 rows, a transaction changes those of its
// connection's slot (its server process id modulo 32) and a read sums them; a slot's figure alone
// may be negative. They count every order ever accepted, hot or archived (the archive job
// changes no count), so they start from both tables, locked against writes meanwhile. Nodes of a
// version without this table must be stopped before it is created: their writes would not be
// counted.
constexpr std::string_view kOrderCounts = R"sql(
CREATE TABLE order_counts (
  status INTEGER NOT NULL CHECK (status BETWEEN 0 AND 4),
  slot INTEGER NOT NULL CHECK (slot BETWEEN 0 AND 31),
  orders BIGINT NOT NULL,
  PRIMARY KEY (status, slot)
) WITH (fillfactor = 50);
LOCK TABLE orders, archived_orders IN SHARE MODE;
INSERT INTO order_counts (status, slot, orders)
  SELECT s.status, slot, CASE WHEN slot = 0 THEN coalesce(n.orders, 0) ELSE 0 END
  FROM generate_series(0, 4) AS s (status) CROSS JOIN generate_series(0, 31) AS slot
  LEFT JOIN (SELECT status, count(*) AS orders FROM (SELECT status FROM orders UNION ALL
    SELECT status FROM archived_orders) a GROUP BY status) n ON n.status = s.status;
)sql";

constexpr Migration kMigrations[] = {
    {1, "initial schema", kInitialSchema},
    {2, "merchant api keys", kMerchantKeys},
    {3, "notification outbox", kNotificationOutbox},
    {4, "archivable orders", kArchivableOrders},
    {5, "fewer merchant row locks", kFewerMerchantLocks},
    {6, "order counts", kOrderCounts},
};

// The key of the advisory lock that serializes migrations within one database: "topup" in ASCII.
constexpr int64_t kMigrationLockKey = 0x746f707570;

}  // namespace

std::span<const Migration> StoreMigrations() { return kMigrations; }

Result<int> SchemaVersion(PgConnection& connection) {
  PgResult result = connection.ExecuteOnce(
      "SELECT CASE WHEN to_regclass('schema_version') IS NULL THEN 0"
      " ELSE (SELECT coalesce(max(version), 0) FROM schema_version) END",
      Params());
  if (!result.ok()) return result.ToStatus();
  return static_cast<int>(result.Int(0, 0));
}

Status ApplyMigrations(PgConnection& connection, std::span<const Migration> migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i) + 1) {
      return Internal("migrations are not numbered 1..n in order");
    }
  }
  Status status = connection.Run("BEGIN");
  if (!status.ok()) return status;
  status = [&]() -> Status {
    // Released by COMMIT or ROLLBACK, so a node that dies mid-migration cannot keep it.
    PgResult locked = connection.ExecuteOnce("SELECT pg_advisory_xact_lock($1::bigint)",
                                             Params().Int(kMigrationLockKey));
    if (!locked.ok()) return locked.ToStatus();
    Status s = connection.Run(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY,"
        " name TEXT NOT NULL,"
        " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
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
      s = connection.Run(migration.sql);
      if (!s.ok()) {
        return Internal("migration " + std::to_string(migration.version) + " (" +
                        std::string(migration.name) + ") failed: " + s.message());
      }
      PgResult recorded = connection.ExecuteOnce(
          "INSERT INTO schema_version (version, name) VALUES ($1::integer, $2::text)",
          Params().Int(migration.version).Text(migration.name));
      if (!recorded.ok()) return recorded.ToStatus();
    }
    return Status::Ok();
  }();
  if (!status.ok()) {
    // Rolls back every migration of this call. If the rollback fails too, the connection is
    // unusable and the pool drops it; the server then rolls the transaction back itself.
    (void)connection.Run("ROLLBACK");
    return status;
  }
  return connection.Run("COMMIT");
}

}  // namespace topup::postgres
