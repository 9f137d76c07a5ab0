#include "core/duration_text.h"

#include <charconv>
#include <string>

namespace topup {

Result<int64_t> ParseDurationMs(std::string_view text) {
  auto invalid = [&] {
    return InvalidArgument(
        "invalid_duration",
        "'" + std::string(text) + "' is not a duration such as 30d, 12h, 15m, 90s or 500ms");
  };
  int64_t count = 0;
  const char* end = text.data() + text.size();
  auto [rest, error] = std::from_chars(text.data(), end, count);
  if (error != std::errc() || rest == text.data() || count <= 0) return invalid();
  const std::string_view unit(rest, static_cast<size_t>(end - rest));
  int64_t unit_ms = 0;
  if (unit == "ms") {
    unit_ms = 1;
  } else if (unit == "s") {
    unit_ms = 1000;
  } else if (unit == "m") {
    unit_ms = 60'000;
  } else if (unit == "h") {
    unit_ms = 3'600'000;
  } else if (unit == "d") {
    unit_ms = 86'400'000;
  } else {
    return invalid();
  }
  constexpr int64_t kMaxMs = 100LL * 365 * 86'400'000;
  if (count > kMaxMs / unit_ms) return invalid();
  return count * unit_ms;
}

}  // namespace topup
