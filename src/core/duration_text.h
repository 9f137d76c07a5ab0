// Durations written for people in flags and config files: "30d", "12h", "15m", "90s", "500ms".
#pragma once

#include <cstdint>
#include <string_view>

#include "topup/status.h"

namespace topup {

// The milliseconds of `text`: a positive whole number followed by one unit of ms, s, m, h or d.
// InvalidArgument("invalid_duration") for anything else, or beyond about 100 years.
Result<int64_t> ParseDurationMs(std::string_view text);

}  // namespace topup
