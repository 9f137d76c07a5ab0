// The retention job as `topup archive` and `topup serve --archive-every` run it.
#pragma once

#include <cstdint>
#include <string>

#include "core/loop_runner.h"
#include "topup/status.h"
#include "topup/store.h"

namespace topup::cli {

// The request that archives the final orders finished longer than `older_than` (a duration such
// as "30d") before now_ms, `batch` orders per transaction. InvalidArgument("invalid_duration") or
// ("invalid_archive_request") on bad input.
Result<ArchiveRequest> MakeArchiveRequest(const std::string& older_than, size_t batch,
                                          int64_t now_ms);

// Runs the retention job on `store` every `every_ms` (the first run one period after the start)
// on a thread of its own (a LoopRunner), until destroyed; each run's outcome is logged. REQUIRES:
// `store` outlives this; every_ms > 0 and the request's arguments were accepted by
// MakeArchiveRequest.
class ArchiveSchedule {
 public:
  ArchiveSchedule(Store& store, int64_t every_ms, std::string older_than, size_t batch);
  ~ArchiveSchedule() = default;  // waits for a run in progress to finish its batch
  ArchiveSchedule(const ArchiveSchedule&) = delete;
  ArchiveSchedule& operator=(const ArchiveSchedule&) = delete;

 private:
  PassRest RunOnce();

  Store& store_;
  const PassRest every_;
  const std::string older_than_;
  const size_t batch_;
  LoopRunner runner_;  // last: stopped (by its destructor) before the members it uses go
};

}  // namespace topup::cli
