// The supplier channels a process may use, read from a JSON file:
//
// {
//   "channels": [
//     {
//       "name": "alpha",                       // [A-Za-z0-9_.-], unique
//       "base_url": "http://127.0.0.1:9101",   // protocol v1, over http or https
//       "carriers": ["china_mobile", "china_unicom"],   // omitted: every carrier
//       "face_values": [10, 20, 30, 50, 100],           // omitted: every face value
//       "priority": 1,                         // lower is preferred
//       "weight": 3,                           // share among channels of equal priority
//       "max_concurrent_attempts": 64,         // submits in flight at once, per process
//       "max_connections": 128,                // open at once, per process (default: 64 more
//                                              //   than max_concurrent_attempts, for queries)
//       "new_connections_per_s": 4000,         // opened per second at most, per process
//       "rate_limit_per_s": 200,               // submits started per second, per process
//       "attempt_timeout_ms": 5000,            // one submit
//       "query_timeout_ms": 3000,              // one query
//       "query_interval_ms": 1000,             // first query after an unknown outcome
//       "callback_secret": "...",              // HMAC-SHA256 key of its callbacks
//       "ca_file": "/etc/topup/supplier-ca.pem" // https: trust this CA (default: the system's)
//     }
//   ],
//   "ported_numbers": { "13800138000": "china_unicom" }   // carrier overrides
// }
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "topup/order.h"
#include "topup/status.h"

namespace topup {

struct ChannelConfig {
  std::string name{};
  std::string base_url{};
  std::set<Carrier> carriers{};     // empty: all
  std::set<int32_t> face_values{};  // empty: all
  int32_t priority = 1;
  int32_t weight = 1;
  int32_t max_concurrent_attempts = 64;
  int32_t max_connections = 0;  // 0: max_concurrent_attempts + 64; see ConnectionLimit()
  int32_t new_connections_per_s = 4'000;
  double rate_limit_per_s = 0;  // 0: unlimited
  int64_t attempt_timeout_ms = 10'000;
  int64_t query_timeout_ms = 3'000;
  int64_t query_interval_ms = 1'000;
  std::string callback_secret{};
  std::string ca_file{};  // https base URLs: the CA to trust; empty: the system's trust store

  bool operator==(const ChannelConfig&) const = default;

  // Connections to the channel open at once: enough for every submit in flight and some queries.
  int32_t ConnectionLimit() const {
    return max_connections > 0 ? max_connections : max_concurrent_attempts + 64;
  }

  bool Serves(Carrier carrier, int32_t face_value_yuan) const {
    return (carriers.empty() || carriers.count(carrier) > 0) &&
           (face_values.empty() || face_values.count(face_value_yuan) > 0);
  }
};

struct RoutingConfig {
  std::vector<ChannelConfig> channels;
  std::map<std::string, Carrier> ported_numbers;  // phone -> carrier that now serves it
};

// InvalidArgument("invalid_channel_config") with the offending field named.
Result<RoutingConfig> ParseRoutingConfig(const std::string& json_text);
Result<RoutingConfig> LoadRoutingConfig(const std::string& path);

}  // namespace topup
