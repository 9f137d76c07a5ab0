#include "store/sqlite/archive.h"

#include "store/rules/archive_rules.h"
#include "store/rules/store_rules.h"

namespace topup::sqlite {
namespace {

using store_rules::SqlText;

// The archive's tables have the hot tables' columns and keys, but no CHECKs or triggers: every
// row was checked on its way into the hot file and never changes here.
constexpr std::string_view kArchiveSchema = R"sql(
CREATE TABLE IF NOT EXISTS archive.orders (
  order_id TEXT NOT NULL PRIMARY KEY,
  merchant_id TEXT NOT NULL,
  merchant_order_id TEXT NOT NULL,
  phone TEXT NOT NULL,
  carrier INTEGER NOT NULL,
  face_value_yuan INTEGER NOT NULL,
  price_fen INTEGER NOT NULL,
  notify_url TEXT NOT NULL,
  status INTEGER NOT NULL,
  attempt_count INTEGER NOT NULL,
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
  UNIQUE (merchant_id, merchant_order_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS archive.order_events (
  event_id INTEGER PRIMARY KEY,
  order_id TEXT NOT NULL,
  at_ms INTEGER NOT NULL,
  kind TEXT NOT NULL,
  from_status INTEGER NOT NULL,
  to_status INTEGER NOT NULL,
  attempt_no INTEGER NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS archive.order_events_by_order ON order_events (order_id, event_id);
CREATE TABLE IF NOT EXISTS archive.notifications (
  notification_id INTEGER PRIMARY KEY,
  order_id TEXT NOT NULL UNIQUE,
  merchant_id TEXT NOT NULL,
  notify_url TEXT NOT NULL,
  order_status INTEGER NOT NULL,
  state INTEGER NOT NULL,
  schedule_start_ms INTEGER NOT NULL,
  tries INTEGER NOT NULL,
  next_try_ms INTEGER NOT NULL,
  delivered_ms INTEGER NOT NULL,
  lease_owner TEXT NOT NULL,
  lease_expires_ms INTEGER NOT NULL,
  created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS archive.notification_tries (
  try_id INTEGER PRIMARY KEY,
  notification_id INTEGER NOT NULL,
  at_ms INTEGER NOT NULL,
  http_status INTEGER NOT NULL,
  error TEXT NOT NULL,
  latency_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS archive.notification_tries_by_notification
  ON notification_tries (notification_id, try_id);
)sql";

constexpr std::string_view kEventColumns =
    "event_id, order_id, at_ms, kind, from_status, to_status, attempt_no, detail";
constexpr std::string_view kNotificationColumns =
    "notification_id, order_id, merchant_id, notify_url, order_status, state, schedule_start_ms, "
    "tries, next_try_ms, delivered_ms, lease_owner, lease_expires_ms, created_ms";
constexpr std::string_view kTryColumns =
    "try_id, notification_id, at_ms, http_status, error, latency_ms";

// The ids of one batch, on the connection that moves it. TEMP: private to the connection.
constexpr std::string_view kBatchTable =
    "CREATE TEMP TABLE IF NOT EXISTS archive_batch (order_id TEXT NOT NULL PRIMARY KEY) "
    "WITHOUT ROWID";

Status RunAll(SqliteConnection& db, std::initializer_list<std::string_view> statements) {
  for (std::string_view sql : statements) {
    Result<Statement> statement = db.Prepare(sql);
    if (!statement.ok()) return statement.status();
    if (Status s = statement->Run(); !s.ok()) return s;
  }
  return Status::Ok();
}

// SQLite gives a new row the largest rowid in use plus one, so deleting the newest row of a table
// would hand its id out again, to a row whose copy the archive (keyed by those ids) would then
// take for the archived one's. The orders that own the newest event, notification and try stay
// in the hot file until newer ones exist, so ids never go back.
constexpr std::string_view kOwnsNoNewestRow =
    " AND o.order_id NOT IN ("
    "coalesce((SELECT order_id FROM main.order_events ORDER BY event_id DESC LIMIT 1), ''),"
    " coalesce((SELECT order_id FROM main.notifications ORDER BY notification_id DESC LIMIT 1),"
    " ''),"
    " coalesce((SELECT n.order_id FROM main.notifications n WHERE n.notification_id ="
    " (SELECT notification_id FROM main.notification_tries ORDER BY try_id DESC LIMIT 1)), ''))";

Status CopyBatch(SqliteConnection& db, int64_t finished_before_ms, size_t batch) {
  if (Status s = RunAll(db, {kBatchTable, "DELETE FROM temp.archive_batch"}); !s.ok()) return s;
  {
    static const std::string kSelect =
        SqlText({"INSERT INTO temp.archive_batch SELECT o.order_id FROM main.orders o WHERE ",
                 store_rules::ArchivableOrderCondition("?1"), kOwnsNoNewestRow, " LIMIT ?2"});
    Result<Statement> select = db.Prepare(kSelect);
    if (!select.ok()) return select.status();
    select->BindInt64(1, finished_before_ms).BindInt64(2, static_cast<int64_t>(batch));
    if (Status s = select->Run(); !s.ok()) return s;
  }
  static const std::string kCopyOrders =
      SqlText({"INSERT OR IGNORE INTO archive.orders (", store_rules::kOrderColumns, ") SELECT ",
               store_rules::kOrderColumns,
               " FROM main.orders WHERE order_id IN (SELECT order_id FROM temp.archive_batch)"});
  static const std::string kCopyEvents = SqlText(
      {"INSERT OR IGNORE INTO archive.order_events (", kEventColumns, ") SELECT ", kEventColumns,
       " FROM main.order_events WHERE order_id IN (SELECT order_id FROM temp.archive_batch)"});
  // REPLACE: a notification resent and delivered again since an earlier copy brings its new state.
  static const std::string kCopyNotifications = SqlText(
      {"INSERT OR REPLACE INTO archive.notifications (", kNotificationColumns, ") SELECT ",
       kNotificationColumns,
       " FROM main.notifications WHERE order_id IN (SELECT order_id FROM temp.archive_batch)"});
  static const std::string kCopyTries = SqlText(
      {"INSERT OR IGNORE INTO archive.notification_tries (", kTryColumns, ") SELECT ", kTryColumns,
       " FROM main.notification_tries WHERE notification_id IN (SELECT notification_id"
       " FROM main.notifications WHERE order_id IN (SELECT order_id FROM"
       " temp.archive_batch))"});
  return RunAll(db, {kCopyOrders, kCopyEvents, kCopyNotifications, kCopyTries});
}

}  // namespace

std::string ArchivePath(const std::string& store_path) { return store_path + ".archive"; }

Status AttachArchive(SqliteConnection& connection, const std::string& archive_path, bool create) {
  {
    Result<Statement> attach = connection.Prepare("ATTACH DATABASE ?1 AS archive");
    if (!attach.ok()) return attach.status();
    attach->BindText(1, archive_path);
    if (Status s = attach->Run(); !s.ok()) return s;
  }
  if (!create) return Status::Ok();
  if (Status s =
          connection.Exec("PRAGMA archive.journal_mode=WAL; PRAGMA archive.synchronous=FULL");
      !s.ok()) {
    return s;
  }
  return connection.Exec(std::string(kArchiveSchema));
}

Result<std::vector<std::string>> CopyBatchToArchive(SqliteConnection& archiver,
                                                    int64_t finished_before_ms, size_t batch) {
  // DEFERRED: the transaction reads the hot file and takes the write lock of the archive alone.
  if (Status s = archiver.Run("BEGIN"); !s.ok()) return s;
  Status copied = CopyBatch(archiver, finished_before_ms, batch);
  std::vector<std::string> order_ids;
  if (copied.ok()) {
    Result<Statement> ids = archiver.Prepare("SELECT order_id FROM temp.archive_batch");
    copied = ids.status();
    while (copied.ok()) {
      Result<bool> row = ids->Step();
      if (!row.ok()) copied = row.status();
      if (!copied.ok() || !*row) break;
      order_ids.push_back(ids->ColumnText(0));
    }
  }
  if (!copied.ok()) {
    (void)archiver.Run("ROLLBACK");
    return copied;
  }
  if (Status s = archiver.Run("COMMIT"); !s.ok()) return s;
  return order_ids;
}

Result<int64_t> DeleteArchivedOrders(SqliteConnection& writer,
                                     std::span<const std::string> order_ids) {
  // The body may run twice in one group transaction's retry, so it starts from an empty table.
  if (Status s = RunAll(writer, {kBatchTable, "DELETE FROM temp.archive_batch"}); !s.ok()) {
    return s;
  }
  // An order leaves only if the archive holds it and its notification as they are now: a
  // notification resent (pending) or tried again since the copy keeps the order here until a
  // later run copies it afresh.
  static const std::string kKeep = SqlText(
      {"INSERT INTO temp.archive_batch SELECT o.order_id FROM main.orders o"
       " JOIN archive.orders a ON a.order_id = o.order_id WHERE o.order_id = ?1 AND o.status >= ",
       store_rules::kSqlSuccess,
       " AND NOT EXISTS (SELECT 1 FROM main.notifications n WHERE n.order_id = o.order_id"
       " AND (n.state = 0 OR NOT EXISTS (SELECT 1 FROM archive.notifications x"
       " WHERE x.notification_id = n.notification_id AND x.state = n.state"
       " AND x.tries = n.tries)))"});
  for (const std::string& order_id : order_ids) {
    Result<Statement> keep = writer.Prepare(kKeep);
    if (!keep.ok()) return keep.status();
    keep->BindText(1, order_id);
    if (Status s = keep->Run(); !s.ok()) return s;
  }
  // Children first: the hot file's foreign keys point from tries to notifications to orders.
  constexpr std::string_view kBatch = "(SELECT order_id FROM temp.archive_batch)";
  static const std::string kTries = SqlText(
      {"DELETE FROM main.notification_tries WHERE notification_id IN (SELECT notification_id"
       " FROM main.notifications WHERE order_id IN ",
       kBatch, ")"});
  static const std::string kNotifications =
      SqlText({"DELETE FROM main.notifications WHERE order_id IN ", kBatch});
  static const std::string kEvents =
      SqlText({"DELETE FROM main.order_events WHERE order_id IN ", kBatch});
  static const std::string kOrders =
      SqlText({"DELETE FROM main.orders WHERE order_id IN ", kBatch});
  if (Status s = RunAll(writer, {kTries, kNotifications, kEvents}); !s.ok()) return s;
  Result<Statement> orders = writer.Prepare(kOrders);
  if (!orders.ok()) return orders.status();
  if (Status s = orders->Run(); !s.ok()) return s;
  return writer.Changes();
}

}  // namespace topup::sqlite
