#include "store/postgres/archive.h"

#include <string>
#include <unordered_set>
#include <vector>

#include "store/rules/store_rules.h"

namespace topup::postgres {
namespace {

using store_rules::SqlText;

// The hot rows of the orders $1, deleted and inserted into the archive by one statement each
// (the archive tables have the hot tables' columns in the same order), children first: the hot
// tables' foreign keys point from tries to notifications to orders, and from events to orders.
std::string MoveRows(std::string_view table, std::string_view condition) {
  return SqlText({"WITH moved AS (DELETE FROM ", table, " WHERE ", condition,
                  " RETURNING *), copied AS (INSERT INTO archived_", table,
                  " SELECT * FROM moved RETURNING 1) SELECT count(*) FROM copied"});
}

struct ArchiveStatements {
  // FOR UPDATE OF o SKIP LOCKED: an order another archiver took is passed over, not waited for,
  // and one it moved and committed after this statement's snapshot is no longer there to lock.
  Query take_orders{"topup_archive_take_orders",
                    SqlText({"SELECT o.order_id FROM orders o WHERE ",
                             store_rules::ArchivableOrderCondition("$1::bigint"),
                             " LIMIT $2::bigint FOR UPDATE OF o SKIP LOCKED"})};
  // Locks the taken orders' notifications and reads them as they are now: a resend that
  // committed after the take, or that is in flight (waited for), shows here as pending, and once
  // locked none can change until the batch commits.
  Query lock_notifications{"topup_archive_lock_notifications",
                           "SELECT order_id, state = 0 FROM notifications"
                           " WHERE order_id = ANY ($1::text[]) ORDER BY notification_id"
                           " FOR UPDATE"};
  Query move_tries{"topup_archive_move_tries",
                   MoveRows("notification_tries",
                            "notification_id IN (SELECT notification_id FROM notifications"
                            " WHERE order_id = ANY ($1::text[]))")};
  Query move_notifications{"topup_archive_move_notifications",
                           MoveRows("notifications", "order_id = ANY ($1::text[])")};
  Query move_events{"topup_archive_move_events",
                    MoveRows("order_events", "order_id = ANY ($1::text[])")};
  Query move_orders{"topup_archive_move_orders", MoveRows("orders", "order_id = ANY ($1::text[])")};
  Query begin{"topup_begin", "BEGIN"};
};

const ArchiveStatements& Sql() {
  static const ArchiveStatements statements;
  return statements;
}

Result<store_rules::ArchiveBatch> MoveInTransaction(
    PgConnection& db, int64_t finished_before_ms, size_t batch,
    const std::function<void(size_t moved)>& before_commit) {
  const BoundQuery take[] = {
      {&Sql().begin, Params()},
      {&Sql().take_orders, Params().Int(finished_before_ms).Int(static_cast<int64_t>(batch))}};
  Result<std::vector<PgResult>> taken = db.ExecutePipeline(take);
  if (!taken.ok()) return taken.status();
  for (const PgResult& result : *taken) {
    if (!result.ok()) return result.ToStatus();
  }
  const PgResult& taken_orders = (*taken)[1];
  store_rules::ArchiveBatch outcome;
  outcome.taken = static_cast<size_t>(taken_orders.rows());
  if (outcome.taken == 0) return outcome;

  std::vector<std::string> order_ids;
  for (int row = 0; row < taken_orders.rows(); ++row) {
    order_ids.emplace_back(taken_orders.Text(row, 0));
  }
  PgResult notifications = db.Execute(Sql().lock_notifications, Params().TextArray(order_ids));
  if (!notifications.ok()) return notifications.ToStatus();
  std::unordered_set<std::string> pending;
  for (int row = 0; row < notifications.rows(); ++row) {
    if (notifications.Bool(row, 1)) pending.emplace(notifications.Text(row, 0));
  }
  std::erase_if(order_ids, [&](const std::string& id) { return pending.contains(id); });
  if (order_ids.empty()) return outcome;

  const Params ids = Params().TextArray(order_ids);
  const BoundQuery moves[] = {{&Sql().move_tries, ids},
                              {&Sql().move_notifications, ids},
                              {&Sql().move_events, ids},
                              {&Sql().move_orders, ids}};
  Result<std::vector<PgResult>> moved = db.ExecutePipeline(moves);
  if (!moved.ok()) return moved.status();
  for (const PgResult& result : *moved) {
    if (!result.ok()) return result.ToStatus();
  }
  outcome.moved = moved->back().Int(0, 0);
  if (before_commit) before_commit(static_cast<size_t>(outcome.moved));
  return outcome;
}

}  // namespace

Result<store_rules::ArchiveBatch> MoveBatchToArchive(
    PgConnection& db, int64_t finished_before_ms, size_t batch,
    const std::function<void(size_t moved)>& before_commit) {
  Result<store_rules::ArchiveBatch> outcome =
      MoveInTransaction(db, finished_before_ms, batch, before_commit);
  // A failed or broken transaction is rolled back; if the connection is gone, the server rolls
  // it back itself and the pool drops the connection.
  Status ended = db.Run(outcome.ok() ? "COMMIT" : "ROLLBACK");
  if (!outcome.ok()) return outcome.status();
  if (!ended.ok()) return ended;
  return outcome;
}

}  // namespace topup::postgres
