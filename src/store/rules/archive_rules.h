// What the retention job (Store::ArchiveFinalOrders) may move out of the hot tables, the bounds of
// one run and how a run proceeds batch by batch: one definition for SQLite and PostgreSQL.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
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

// What one batch did: the archivable orders it took up (at most the request's batch), and how
// many of them left the hot tables (fewer when a notification changed under it).
struct ArchiveBatch {
  size_t taken = 0;
  int64_t moved = 0;
};

// Tries of one batch that the database aborted for a lock conflict (Unavailable("store_busy"):
// a deadlock, a serialization failure, a lock not available), which leaves nothing of it written.
inline constexpr int kMaxArchiveBatchAttempts = 5;

// How long to wait before trying a batch again after its try number `attempt` (1, 2, ...) failed
// with `failure`: a short back-off, doubling, for a "store_busy" failure and tries left; nothing
// for any other failure, which ends the run.
std::optional<std::chrono::milliseconds> ArchiveRetryDelay(const Status& failure, int attempt);

// A run of the retention job: validates `request`, then calls `move_batch` until a batch takes
// fewer orders than request.batch_orders (the last) or moves none (what is left waits for the
// next run rather than being taken up again at once), and reports the batches that moved orders.
// Stops at the first error.
Result<ArchiveReport> RunArchiveBatches(const ArchiveRequest& request,
                                        const std::function<Result<ArchiveBatch>()>& move_batch);

}  // namespace topup::store_rules
