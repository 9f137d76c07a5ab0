#include "store/sqlite/order_counts.h"

namespace topup::sqlite {

Status WriteOrderCountChanges(SqliteConnection& writer,
                              const store_rules::OrderCountChanges& changes) {
  for (const auto& [status, change] : changes.Changed()) {
    Result<Statement> update =
        writer.Prepare("UPDATE order_counts SET orders = orders + ?2 WHERE status = ?1");
    if (!update.ok()) return update.status();
    update->BindInt64(1, static_cast<int64_t>(status)).BindInt64(2, change);
    if (Status s = update->Run(); !s.ok()) return s;
    if (writer.Changes() != 1) return Internal("order_counts has no row for a status");
  }
  return Status::Ok();
}

Result<OrderCounts> ReadOrderCounts(SqliteConnection& reader) {
  OrderCounts counts = store_rules::ZeroOrderCounts();
  Result<Statement> select = reader.Prepare("SELECT status, orders FROM order_counts");
  if (!select.ok()) return select.status();
  while (true) {
    Result<bool> row = select->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    counts[static_cast<OrderStatus>(select->ColumnInt64(0))] = select->ColumnInt64(1);
  }
  return counts;
}

}  // namespace topup::sqlite
