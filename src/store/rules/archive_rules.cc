#include "store/rules/archive_rules.h"

#include "store/rules/store_rules.h"

namespace topup::store_rules {

Status ValidateArchiveRequest(const ArchiveRequest& request) {
  if (request.finished_before_ms <= 0 || request.batch_orders < kMinArchiveBatch ||
      request.batch_orders > kMaxArchiveBatch) {
    return InvalidArgument("invalid_archive_request",
                           "an archive run needs a cutoff time and a batch of " +
                               std::to_string(kMinArchiveBatch) + ".." +
                               std::to_string(kMaxArchiveBatch) + " orders");
  }
  return Status::Ok();
}

std::string ArchivableOrderCondition(std::string_view cutoff_parameter) {
  // status >= success: the final statuses, which both schemas keep the highest numbers.
  return SqlText({"o.status >= ", kSqlSuccess, " AND o.finished_ms < ", cutoff_parameter,
                  " AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.order_id = o.order_id"
                  " AND n.state = 0)"});
}

std::optional<std::chrono::milliseconds> ArchiveRetryDelay(const Status& failure, int attempt) {
  if (failure.reason() != "store_busy" || attempt < 1 || attempt >= kMaxArchiveBatchAttempts) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(10 << (attempt - 1));  // 10, 20, 40, 80 ms
}

Result<ArchiveReport> RunArchiveBatches(const ArchiveRequest& request,
                                        const std::function<Result<ArchiveBatch>()>& move_batch) {
  if (Status s = ValidateArchiveRequest(request); !s.ok()) return s;
  ArchiveReport report;
  while (true) {
    Result<ArchiveBatch> batch = move_batch();
    if (!batch.ok()) return batch.status();
    if (batch->moved > 0) {
      report.orders += batch->moved;
      report.batches += 1;
    }
    if (batch->taken < request.batch_orders || batch->moved == 0) break;
  }
  return report;
}

}  // namespace topup::store_rules
