#include "cli/archive_schedule.h"

#include <spdlog/spdlog.h>

#include <chrono>

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
      every_ms_(every_ms),
      older_than_(std::move(older_than)),
      batch_(batch),
      thread_([this] { Loop(); }) {}

ArchiveSchedule::~ArchiveSchedule() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void ArchiveSchedule::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!wake_.wait_for(lock, std::chrono::milliseconds(every_ms_), [&] { return stopping_; })) {
    lock.unlock();
    Result<ArchiveRequest> request =
        MakeArchiveRequest(older_than_, batch_, SystemClock()->NowMs());
    Result<ArchiveReport> report = request.ok() ? store_.ArchiveFinalOrders(*request)
                                                : Result<ArchiveReport>(request.status());
    if (report.ok()) {
      spdlog::info("archive: moved {} orders in {} batches", report->orders, report->batches);
    } else {
      spdlog::warn("archive: {}", report.status().ToString());
    }
    lock.lock();
  }
}

}  // namespace topup::cli
