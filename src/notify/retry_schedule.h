// When a notification is tried: at 0 s, 15 s, 1 min, 5 min, 30 min, 2 h and 6 h after its
// schedule starts (the order's finality, or a re-send), then given up.
#pragma once

#include <array>
#include <cstdint>

namespace topup::notify {

inline constexpr std::array<int64_t, 7> kTryOffsetsMs = {0,         15'000,    60'000,    300'000,
                                                         1'800'000, 7'200'000, 21'600'000};

// The time of the next try after `tries_done` tries (>= 1) failed, no earlier than now_ms; 0 when
// the schedule is spent and the notification is to be given up. `divisor` (>= 1, tests only:
// NotifierOptions::test_only_schedule_divisor) divides every offset.
int64_t NextTryMs(int64_t schedule_start_ms, int32_t tries_done, int64_t now_ms,
                  int32_t divisor = 1);

}  // namespace topup::notify
