#include "simulate/faults.h"

#include <array>
#include <utility>

namespace topup::simulate {
namespace {

using Field = bool Faults::*;

constexpr std::array<std::pair<std::string_view, Field>, 16> kFaults = {{
    {"crash", &Faults::crash},
    {"clock_jump", &Faults::clock_jump},
    {"node_clock_jump", &Faults::node_clock_jump},
    {"queue_loss", &Faults::queue_loss},
    {"queue_duplicate", &Faults::queue_duplicate},
    {"outage", &Faults::outage},
    {"reset", &Faults::reset},
    {"blackhole", &Faults::blackhole},
    {"slow_processing", &Faults::slow_processing},
    {"error_after_credit", &Faults::error_after_credit},
    {"garbage", &Faults::garbage},
    {"index_lag", &Faults::index_lag},
    {"query_errors", &Faults::query_errors},
    {"callbacks", &Faults::callbacks},
    {"receiver", &Faults::receiver},
    {"frequent_failures", &Faults::frequent_failures},
}};

}  // namespace

Result<Faults> Faults::Parse(std::string_view spec) {
  Faults faults;
  for (const auto& [name, field] : kFaults) faults.*field = false;
  if (spec == "none") return faults;
  while (!spec.empty()) {
    const size_t comma = spec.find(',');
    const std::string_view name = spec.substr(0, comma);
    bool known = false;
    if (name == "all") {
      const Faults every;
      for (const auto& [fault, field] : kFaults) faults.*field = faults.*field || every.*field;
      known = true;
    }
    for (const auto& [fault, field] : kFaults) {
      if (fault == name) {
        faults.*field = true;
        known = true;
      }
    }
    if (!known) return InvalidArgument("unknown_fault", "unknown fault: " + std::string(name));
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
  }
  return faults;
}

std::string Faults::ToString() const {
  std::string names;
  for (const auto& [name, field] : kFaults) {
    if (!(this->*field)) continue;
    if (!names.empty()) names += ',';
    names += name;
  }
  return names.empty() ? "none" : names;
}

}  // namespace topup::simulate
