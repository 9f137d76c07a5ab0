// The archive of a PostgreSQL store: tables beside the hot ones in the same database
// (archived_orders, archived_order_events, archived_notifications, archived_notification_tries,
// see schema.cc) that hold the final orders the retention job moved out of the hot tables, with
// their events, notifications and notification tries. The ledger stays whole in its table.
//
// A batch moves in one transaction: its orders are locked FOR UPDATE SKIP LOCKED, their rows are
// deleted from the hot tables and inserted into the archive tables by the same statements, and
// the lot commits at once. There is no moment at which an order is in both places or in neither,
// a batch cut short by a crash moves nothing, and two nodes archiving at once take disjoint
// orders without waiting for each other.
#pragma once

#include <cstdint>
#include <functional>

#include "store/postgres/pg_connection.h"
#include "store/rules/archive_rules.h"
#include "topup/status.h"

namespace topup::postgres {

// Moves up to `batch` archivable orders (store_rules::ArchivableOrderCondition) finished before
// `finished_before_ms` and all their rows into the archive tables in one transaction on `db`.
// `before_commit`, if set, is called with the orders moved once the moves are written and before
// the transaction commits. An order whose notification another node is changing is skipped or
// left for a later run (never moved with a notification still to deliver). On an error the
// transaction is rolled back and nothing moved. REQUIRES: `db` is not inside a transaction.
Result<store_rules::ArchiveBatch> MoveBatchToArchive(
    PgConnection& db, int64_t finished_before_ms, size_t batch,
    const std::function<void(size_t moved)>& before_commit);

}  // namespace topup::postgres
