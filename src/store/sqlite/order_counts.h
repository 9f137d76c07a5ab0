// The order counts of a SQLite store: the table order_counts (one row per status, of every order
// the store ever accepted, hot or archived), which the writer changes once per group transaction
// by what its writes added up to (store_rules::OrderCountChanges), just before the COMMIT.
#pragma once

#include "store/rules/order_counts.h"
#include "store/sqlite/sqlite_connection.h"
#include "topup/status.h"
#include "topup/store.h"

namespace topup::sqlite {

// Adds `changes` to the counts: one UPDATE per status changed. A write for the writer thread.
Status WriteOrderCountChanges(SqliteConnection& writer,
                              const store_rules::OrderCountChanges& changes);

// The counts by status, every status present.
Result<OrderCounts> ReadOrderCounts(SqliteConnection& reader);

}  // namespace topup::sqlite
