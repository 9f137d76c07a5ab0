#include "loadgen/chaos.h"

#include <boost/json.hpp>

namespace topup::loadgen {
namespace {

namespace json = boost::json;

std::string ChaosSimConfig(const std::vector<uint16_t>& node_ports, uint64_t seed) {
  std::string callback_urls;
  for (uint16_t port : node_ports) {
    if (!callback_urls.empty()) callback_urls += ",";
    callback_urls += "http://127.0.0.1:" + std::to_string(port) + "/v1/supplier-callbacks/beta";
  }
  json::array channels = {
      json::object{{"name", "alpha"},
                   {"latency_median_ms", 20},
                   {"latency_p99_ms", 1500},
                   {"fail_rate", 0.05},
                   {"blackhole_rate", 0.02},
                   {"blackhole_hold_ms", 4000},
                   {"processing_rate", 0.1},
                   {"processing_ms", 3000},
                   {"query_lag_ms", 1000},
                   {"dedup", false},
                   {"outages", json::array{json::object{{"start_s", 8}, {"end_s", 20}}}}},
      json::object{{"name", "beta"},
                   {"latency_median_ms", 10},
                   {"latency_p99_ms", 200},
                   {"fail_rate", 0.05},
                   {"dedup", false},
                   {"async", json::object{{"callback_url", callback_urls},
                                          {"callback_secret", "beta-secret"},
                                          {"delay_median_ms", 300},
                                          {"delay_p99_ms", 5000},
                                          {"duplicate_rate", 0.1},
                                          {"loss_rate", 0.1}}}},
      json::object{{"name", "gamma"},
                   {"latency_median_ms", 100},
                   {"latency_p99_ms", 3000},
                   {"fail_rate", 0.2},
                   {"blackhole_rate", 0.02},
                   {"blackhole_hold_ms", 4000},
                   {"dedup", false}}};
  return json::serialize(json::object{{"seed", seed}, {"channels", std::move(channels)}});
}

std::string ChaosServeConfig(uint16_t sim_port) {
  std::string base = "http://127.0.0.1:" + std::to_string(sim_port) + "/";
  json::array channels = {json::object{{"name", "alpha"},
                                       {"base_url", base + "alpha"},
                                       {"carriers", json::array{"china_mobile", "china_unicom"}},
                                       {"priority", 1},
                                       {"max_concurrent_attempts", 48},
                                       {"rate_limit_per_s", 400},
                                       {"attempt_timeout_ms", 2000},
                                       {"query_interval_ms", 500}},
                          json::object{{"name", "beta"},
                                       {"base_url", base + "beta"},
                                       {"priority", 2},
                                       {"max_concurrent_attempts", 48},
                                       {"attempt_timeout_ms", 2000},
                                       {"query_interval_ms", 1000},
                                       {"callback_secret", "beta-secret"}},
                          json::object{{"name", "gamma"},
                                       {"base_url", base + "gamma"},
                                       {"carriers", json::array{"china_telecom", "china_broadnet"}},
                                       {"priority", 1},
                                       {"max_concurrent_attempts", 32},
                                       {"attempt_timeout_ms", 4000},
                                       {"query_interval_ms", 500}}};
  return json::serialize(json::object{{"channels", std::move(channels)}});
}

}  // namespace

void ConfigureChaos(uint64_t seed, ScenarioOptions* options) {
  options->sim_channels_config = [seed](const std::vector<uint16_t>& ports) {
    return ChaosSimConfig(ports, seed);
  };
  options->serve_channels_config = ChaosServeConfig;
  // A notification lease of 10 s (twice a try's timeout): a killed node's tries go to its
  // successor soon.
  options->serve_flags = {"--not-found-grace-ms", "5000", "--max-attempts", "4",
                          "--notify-lease-ms",    "10000"};
  options->notify = true;
  options->receiver_faults = {
      {.kind = ReceiverFault::Kind::kFail, .from_ms = 3'000, .until_ms = 7'000},
      {.kind = ReceiverFault::Kind::kHang, .from_ms = 9'000, .until_ms = 13'000}};
}

}  // namespace topup::loadgen
