// What the retention job (Store::ArchiveFinalOrders) may move out of the hot tables, and the
// bounds of one run: one definition for SQLite and PostgreSQL.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "topup/status.h"
#include "topup/store.h"

namespace topup::store_rules {

// Orders moved per transaction. A batch holds the writer (SQLite) or its rows' locks
// (PostgreSQL) for the length of one delete, so the bound keeps live writes from waiting long.
inline constexpr size_t kMinArchiveBatch = 1;
inline constexpr size_t kMaxArchiveBatch = 50'000;

// InvalidArgument("invalid_archive_request") unless finished_before_ms > 0 and the batch is
// within the bounds above.
Status ValidateArchiveRequest(const ArchiveRequest& request);

// The condition, on the hot orders table aliased `o`, of an archivable order: final, finished
// before the cutoff bound to `cutoff_parameter` (e.g. "?1" or "$1"), and with no notification
// still to deliver. A final order never changes again but for its notification, which a resend
// can make pending again; such an order waits for a later run.
std::string ArchivableOrderCondition(std::string_view cutoff_parameter);

}  // namespace topup::store_rules
