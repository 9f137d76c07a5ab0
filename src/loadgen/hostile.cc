#include "loadgen/hostile.h"

#include <string_view>
#include <utility>

namespace topup::loadgen {
namespace {

struct Knob {
  std::string_view name;   // the field of --channels-config; the flag is --name with dashes
  std::string_view value;  // a JSON number
};

// Garbled answers after crediting: 1 - 0.89^4, about 37 % of the answers given at once.
constexpr Knob kHostile[] = {
    {"latency_median_ms", "40"},
    {"latency_p99_ms", "400"},
    {"fail_rate", "0.03"},
    {"blackhole_rate", "0.02"},
    {"blackhole_hold_ms", "15000"},
    {"processing_rate", "0.1"},
    {"processing_ms", "60000"},
    {"query_lag_ms", "20000"},
    {"error_after_credit_rate", "0.11"},
    {"truncated_rate", "0.11"},
    {"wrong_content_rate", "0.11"},
    {"unknown_status_rate", "0.11"},
    {"reset_rate", "0.03"},
    {"query_error_rate", "0.1"},
};

std::string Flag(std::string_view name) {
  std::string flag = "--" + std::string(name);
  for (char& c : flag) c = c == '_' ? '-' : c;
  return flag;
}

}  // namespace

std::vector<std::string> HostileSimFlags() {
  std::vector<std::string> flags;
  for (const Knob& knob : kHostile) {
    flags.push_back(Flag(knob.name));
    flags.emplace_back(knob.value);
  }
  flags.push_back("--no-dedup");
  return flags;
}

boost::json::object HostileSimChannel(std::string name) {
  boost::json::object channel{{"name", std::move(name)}, {"dedup", false}};
  for (const Knob& knob : kHostile) channel[knob.name] = boost::json::parse(knob.value);
  return channel;
}

}  // namespace topup::loadgen
