#include "loadgen/report_json.h"

#include <boost/json.hpp>

namespace topup::loadgen {

namespace json = boost::json;

std::string ReportToJson(const ScenarioReport& report, int64_t deadline_s) {
  json::object rejected_by_code;
  for (const auto& [code, count] : report.rejected_by_code) rejected_by_code[code] = count;
  json::object attempts_per_10s;
  for (const auto& [channel, counts] : report.attempts_per_10s) {
    attempts_per_10s[channel] = json::array(counts.begin(), counts.end());
  }
  json::array misses(report.misses.begin(), report.misses.end());
  json::object out{
      {"completed", true},
      {"correct", report.Correct()},
      {"deadline_s", deadline_s},
      {"requested", report.requested},
      {"accepted", report.accepted},
      {"rejected", report.rejected},
      {"rejected_by_code", std::move(rejected_by_code)},
      {"not_acknowledged", report.not_acknowledged},
      {"orders_in_store", report.orders_in_store},
      {"lost", report.lost},
      {"succeeded", report.succeeded},
      {"failed_refunded", report.failed_refunded},
      {"still_open", report.still_open},
      {"load_s", report.load_s},
      {"run_s", report.run_s},
      {"accepted_per_s", report.accepted_per_s},
      {"final_per_s", report.final_per_s},
      {"latency_p50_ms", report.latency_p50_ms},
      {"latency_p95_ms", report.latency_p95_ms},
      {"latency_p99_ms", report.latency_p99_ms},
      {"latency_max_ms", report.latency_max_ms},
      {"share_final_within_deadline", report.share_final_within_deadline},
      {"missed_deadline", report.missed_deadline},
      {"credits", report.credits},
      {"double_credits", report.double_credits},
      {"credits_on_unsuccessful", report.credits_on_unsuccessful},
      {"successes_without_credit", report.successes_without_credit},
      {"ledger_balanced", report.ledger_balanced},
      {"ledger_problems", report.ledger_problems},
      {"server_kills", report.server_kills},
      {"store_write_calls", report.store_write_calls},
      {"store_order_writes", report.store_order_writes},
      {"handed_off", report.handed_off},
      {"supplier_processing_answers", report.supplier_processing_answers},
      {"server_cpu_s", report.server_cpu_s},
      {"sim_cpu_s", report.sim_cpu_s},
      {"loadgen_cpu_s", report.loadgen_cpu_s},
      {"receiver_cpu_s", report.receiver_cpu_s},
      {"first_attempt_p50_ms", report.first_attempt_p50_ms},
      {"first_attempt_p99_ms", report.first_attempt_p99_ms},
      {"first_attempt_max_ms", report.first_attempt_max_ms},
      {"attempts_per_10s", std::move(attempts_per_10s)},
      {"invalid_transitions_logged", report.invalid_transitions_logged},
      {"misses", std::move(misses)},
  };
  if (report.notify) {
    out["notifications_acknowledged"] = report.notifications_acknowledged;
    out["notifications_missing"] = report.notifications_missing;
    out["notifications_duplicated"] = report.notifications_duplicated;
    out["notification_bad_signatures"] = report.notification_bad_signatures;
    out["receiver_failed"] = report.receiver_failed;
    out["receiver_hung"] = report.receiver_hung;
    out["receiver_connections"] = report.receiver_connections;
    out["notify_latency_p50_ms"] = report.notify_latency_p50_ms;
    out["notify_latency_p99_ms"] = report.notify_latency_p99_ms;
    out["notify_latency_max_ms"] = report.notify_latency_max_ms;
  }
  return json::serialize(out);
}

}  // namespace topup::loadgen
