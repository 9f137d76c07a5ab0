#include "simulate/simulated_callbacks.h"

#include <algorithm>

#include "core/hmac.h"

namespace topup::simulate {
namespace {

constexpr double kLostChance = 0.2;
constexpr double kProcessingNoteChance = 0.2;  // of attempts that stay processing a while
constexpr double kLateChance = 0.3;            // otherwise it leaves within 50 ms of settling
constexpr int64_t kLateMaxMs = 120'000;
constexpr double kDuplicateChance = 0.1;  // the same report again within 2 s
constexpr double kReplayChance = 0.05;    // the same report again, up to 10 minutes later
constexpr int64_t kReplayMaxMs = 600'000;
constexpr int64_t kRedeliveryMs = 1'000;  // doubling per delivery

}  // namespace

SimulatedCallbacks::SimulatedCallbacks(std::string channel, std::string secret, EventQueue* events,
                                       const Clock* clock, Random* random, const CreditBook* book,
                                       Trace* trace, Receiver receiver, ViolationSink on_violation)
    : channel_(std::move(channel)),
      secret_(std::move(secret)),
      events_(events),
      clock_(clock),
      random_(random),
      book_(book),
      trace_(trace),
      receiver_(std::move(receiver)),
      on_violation_(std::move(on_violation)) {}

void SimulatedCallbacks::Plan(const std::string& supplier_order_id, int64_t final_ms) {
  if (random_->Chance(kLostChance)) return;
  // The wall clock only jumps forward, so the report sent at the event of `settles_in_ms` from
  // now finds the outcome settled.
  const int64_t settles_in_ms = std::max<int64_t>(0, final_ms - clock_->NowMs());
  if (settles_in_ms > 0 && random_->Chance(kProcessingNoteChance)) {
    SendIn(static_cast<int64_t>(random_->NextBelow(static_cast<uint64_t>(settles_in_ms))),
           supplier_order_id, kMaxDeliveries);
  }
  const int64_t delay_ms = static_cast<int64_t>(
      random_->Chance(kLateChance) ? random_->NextBelow(kLateMaxMs) : random_->NextBelow(50));
  const int64_t first_ms = settles_in_ms + delay_ms;
  SendIn(first_ms, supplier_order_id, kMaxDeliveries);
  if (random_->Chance(kDuplicateChance)) {
    SendIn(first_ms + static_cast<int64_t>(random_->NextBelow(2'000)), supplier_order_id,
           kMaxDeliveries);
  }
  if (random_->Chance(kReplayChance)) {
    SendIn(first_ms + static_cast<int64_t>(random_->NextBelow(kReplayMaxMs)), supplier_order_id,
           kMaxDeliveries);
  }
}

void SimulatedCallbacks::SendIn(int64_t after_ms, const std::string& supplier_order_id,
                                int deliveries_left) {
  events_->Schedule(events_->now_ms() + after_ms, [this, supplier_order_id, deliveries_left] {
    Send(supplier_order_id, deliveries_left);
  });
}

std::string SimulatedCallbacks::Body(const std::string& supplier_order_id, std::string* status) {
  const SuppliedAttempt* attempt = book_->Find(supplier_order_id);
  std::string body = R"({"supplier_order_id":")" + supplier_order_id + R"(","status":")";
  if (attempt == nullptr || clock_->NowMs() < attempt->final_ms) {
    *status = "processing";
    return body + "processing\"}";
  }
  if (!attempt->credits) {
    *status = "failed";
    return body + "failed\"}";
  }
  *status = "success";
  return body + R"(success","supplier_ref":")" + channel_ + "-cb-" + std::to_string(++refs_) +
         "\"}";
}

void SimulatedCallbacks::Send(const std::string& supplier_order_id, int deliveries_left) {
  std::string status;
  const std::string body = Body(supplier_order_id, &status);
  const Result<std::string> handled = receiver_(channel_, body, HmacSha256Hex(secret_, body));
  const std::string line = channel_ + " called back " + supplier_order_id + " " + status + ": ";
  if (handled.ok()) {
    if (*handled == "applied") ++applied_;
    trace_->Add(events_->now_ms(), line + *handled);
    return;
  }
  trace_->Add(events_->now_ms(), line + handled.status().ToString());
  switch (handled.status().code()) {
    case StatusCode::kNotFound:
    case StatusCode::kUnauthenticated:
    case StatusCode::kInvalidArgument:
      // A true, well-signed report about an attempt the engine recorded before sending it.
      return on_violation_("callback " + body + " refused: " + handled.status().ToString());
    default:
      if (deliveries_left > 1) {
        const int64_t backoff_ms = kRedeliveryMs << (kMaxDeliveries - deliveries_left);
        SendIn(backoff_ms, supplier_order_id, deliveries_left - 1);
      }
  }
}

}  // namespace topup::simulate
