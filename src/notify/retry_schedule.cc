#include "notify/retry_schedule.h"

#include <algorithm>
#include <cassert>

namespace topup::notify {

int64_t NextTryMs(int64_t schedule_start_ms, int32_t tries_done, int64_t now_ms, int32_t divisor) {
  assert(tries_done >= 1);
  assert(divisor >= 1);
  if (tries_done >= static_cast<int32_t>(kTryOffsetsMs.size())) return 0;
  const int64_t planned_ms =
      schedule_start_ms + kTryOffsetsMs[static_cast<size_t>(tries_done)] / divisor;
  // A try that ran late (a node down, a backlog) is followed by the next one at its planned time,
  // or at once if that has passed too; never by a burst for the missed ones.
  return std::max({planned_ms, now_ms, int64_t{1}});
}

}  // namespace topup::notify
