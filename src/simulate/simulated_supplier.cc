#include "simulate/simulated_supplier.h"

#include "topup/order.h"

namespace topup::simulate {
namespace {

// Chances per attempt, for the faults that are on.
constexpr double kResetChance = 0.03;
constexpr double kFailChance = 0.2;
constexpr double kFrequentFailChance = 0.9;  // Faults::frequent_failures
constexpr double kBlackholeChance = 0.03;
constexpr double kProcessingChance = 0.3;
constexpr double kSlowProcessingChance = 0.1;
constexpr double kErrorAfterCreditChance = 0.05;
constexpr double kGarbageChance = 0.05;
constexpr double kLateAnswerChance = 0.03;  // beyond any caller's timeout
constexpr double kQueryErrorChance = 0.05;
// Below the engine's not-found grace (OrderPolicy::not_found_grace_ms, 20 s): a lag beyond it
// would make any engine resend, and that is the supplier breaking its contract.
constexpr int64_t kIndexLagMaxMs = 15'000;
constexpr int64_t kSlowProcessingMaxMs = 240'000;

}  // namespace

SimulatedSupplier::SimulatedSupplier(std::string name, const Clock* clock, Random* random,
                                     const Faults* faults, CreditBook* book, Trace* trace,
                                     SimulatedCallbacks* callbacks)
    : name_(std::move(name)),
      clock_(clock),
      random_(random),
      faults_(faults),
      book_(book),
      trace_(trace),
      callbacks_(callbacks) {}

void SimulatedSupplier::ScheduleOutage(int64_t from_ms, int64_t duration_ms) {
  outage_from_ms_ = from_ms;
  outage_until_ms_ = from_ms + duration_ms;
}

int64_t SimulatedSupplier::Latency() { return 5 + static_cast<int64_t>(random_->NextBelow(300)); }

http::HttpResponse SimulatedSupplier::Json(int status, std::string body) {
  http::HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

SupplierReply SimulatedSupplier::Submit(const SubmitRequest& request,
                                        std::optional<std::string>* violation) {
  const int64_t now_ms = clock_->NowMs();
  const std::string& id = request.supplier_order_id;
  if (now_ms >= outage_from_ms_ && now_ms < outage_until_ms_) {
    trace_->Add(now_ms, name_ + " refused " + id);
    return {1, Unavailable("not_sent", "connection refused")};
  }
  if (faults_->reset && random_->Chance(kResetChance)) {
    trace_->Add(now_ms, name_ + " reset " + id);
    return {Latency(), Unavailable("connection_reset", "connection reset by peer")};
  }
  SuppliedAttempt attempt{
      .supplier = name_,
      .supplier_order_id = id,
      .phone = request.phone,
      .face_value_yuan = request.face_value_yuan,
      .credits = !random_->Chance(faults_->frequent_failures ? kFrequentFailChance : kFailChance),
      .arrived_ms = now_ms,
      .final_ms = now_ms,
      .indexed_ms = now_ms};
  const bool blackhole = faults_->blackhole && random_->Chance(kBlackholeChance);
  const bool processing = random_->Chance(kProcessingChance);
  if (processing) {
    const bool slow = faults_->slow_processing && random_->Chance(kSlowProcessingChance);
    attempt.final_ms =
        now_ms + 100 +
        static_cast<int64_t>(random_->NextBelow(slow ? kSlowProcessingMaxMs : 5'000));
  }
  if (faults_->index_lag) {
    attempt.indexed_ms = now_ms + static_cast<int64_t>(random_->NextBelow(kIndexLagMaxMs));
  }
  const bool credits = attempt.credits;
  const int64_t final_ms = attempt.final_ms;
  trace_->Add(now_ms, name_ + " took " + id + (credits ? " credits" : " fails") + " final " +
                          std::to_string(final_ms));
  const std::optional<std::string> order_id = OrderIdOfSupplierOrderId(id);
  *violation = book_->Record(order_id.value_or(id), std::move(attempt), now_ms);
  if (callbacks_ != nullptr) callbacks_->Plan(id, final_ms);

  if (blackhole) return {std::nullopt, http::HttpResponse{}};
  int64_t after_ms = Latency();
  if (random_->Chance(kLateAnswerChance)) after_ms += 60'000;
  if (processing) return {after_ms, Json(200, R"({"status":"processing"})")};
  if (!credits) return {after_ms, Json(200, R"({"status":"failed","reason":"simulated failure"})")};
  if (faults_->error_after_credit && random_->Chance(kErrorAfterCreditChance)) {
    return {after_ms, Json(502, "bad gateway")};
  }
  if (faults_->garbage && random_->Chance(kGarbageChance)) {
    return {after_ms, random_->Chance(0.5) ? Json(200, "<html>busy</html>")
                                           : Json(200, R"({"status":"credited_maybe"})")};
  }
  const std::string ref = name_ + "-" + std::to_string(++refs_);
  return {after_ms, Json(200, R"({"status":"success","supplier_ref":")" + ref + "\"}")};
}

SupplierReply SimulatedSupplier::Query(std::string_view supplier_order_id) {
  const int64_t now_ms = clock_->NowMs();
  const int64_t after_ms = Latency();
  if (now_ms >= outage_from_ms_ && now_ms < outage_until_ms_) {
    return {1, Unavailable("not_sent", "connection refused")};
  }
  if (faults_->query_errors && random_->Chance(kQueryErrorChance)) {
    return {after_ms, Json(503, "unavailable")};
  }
  const SuppliedAttempt* attempt = book_->Find(std::string(supplier_order_id));
  if (attempt == nullptr || attempt->supplier != name_ || now_ms < attempt->indexed_ms) {
    return {after_ms, Json(200, R"({"status":"not_found"})")};
  }
  if (now_ms < attempt->final_ms) return {after_ms, Json(200, R"({"status":"processing"})")};
  if (!attempt->credits)
    return {after_ms, Json(200, R"({"status":"failed","reason":"simulated"})")};
  return {after_ms, Json(200, R"({"status":"success","supplier_ref":")" + name_ + "-q\"}")};
}

}  // namespace topup::simulate
