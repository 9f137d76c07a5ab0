#include "cli/archive_schedule.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "core/duration_text.h"
#include "store/rules/archive_rules.h"
#include "topup/clock.h"

namespace topup::cli {

Result<ArchiveRequest> MakeArchiveRequest(const std::string& older_than, size_t batch,
                                          int64_t now_ms) {
  Result<int64_t> age_ms = ParseDurationMs(older_than);
  if (!age_ms.ok()) return age_ms.status();
  ArchiveRequest request;
  request.finished_before_ms = now_ms - *age_ms;
  request.batch_orders = batch;
  if (Status s = store_rules::ValidateArchiveRequest(request); !s.ok()) return s;
  return request;
}

ArchiveSchedule::ArchiveSchedule(Store& store, int64_t every_ms, std::string older_than,
                                 size_t batch)
    : store_(store),
      every_(every_ms),
      older_than_(std::move(older_than)),
      batch_(batch),
      runner_("archive", [this] { return RunOnce(); }) {
  runner_.Start(every_);
}

PassRest ArchiveSchedule::RunOnce() {
  Result<ArchiveRequest> request = MakeArchiveRequest(older_than_, batch_, SystemClock()->NowMs());
  Result<ArchiveReport> report =
      request.ok() ? store_.ArchiveFinalOrders(*request) : Result<ArchiveReport>(request.status());
  if (report.ok()) {
    spdlog::info("archive: moved {} orders in {} batches", report->orders, report->batches);
  } else {
    spdlog::warn("archive: {}", report.status().ToString());
  }
  return every_;
}

}  // namespace topup::cli
