#include "engine/deadline_report.h"

#include <algorithm>
#include <array>
#include <string_view>
#include <vector>

namespace topup {
namespace {

// Where an order's time goes; each event moves it from one to another.
enum class Phase { kBetweenAttempts, kWaitingForChannel, kAwaitingAnswer, kProcessing, kUnknown };
constexpr size_t kPhases = 5;

std::string Seconds(int64_t ms) { return std::to_string((ms + 500) / 1000) + " s"; }

}  // namespace

bool IsFirstStepAfterDeadline(const Order& order, int64_t now_ms) {
  return order.deadline_ms > 0 && now_ms >= order.deadline_ms &&
         order.updated_ms < order.deadline_ms;
}

void NoteIfLate(Store& store, const Order& order, Transition* t) {
  if (!IsFirstStepAfterDeadline(order, t->now_ms)) return;
  Result<std::vector<OrderEvent>> events = store.ListEvents(order.order_id);
  if (!events.ok()) {
    t->deadline_missed_detail = "history unreadable: " + events.status().ToString();
    return;
  }
  // The step's own event, so that a final step counts as the end.
  if (!t->event_kind.empty()) {
    OrderEvent step;
    step.order_id = order.order_id;
    step.at_ms = t->now_ms;
    step.kind = t->event_kind;
    step.detail = t->event_detail;
    events->push_back(std::move(step));
  }
  Order after = order;
  if (t->attempt == Transition::Attempt::kStart) after.attempt_count = t->from_attempt_count + 1;
  after.status = t->to;
  t->deadline_missed_detail = ExplainLateness(after, *events, t->now_ms);
}

std::string ExplainLateness(const Order& order, std::span<const OrderEvent> events,
                            int64_t now_ms) {
  std::array<int64_t, kPhases> spent_ms{};
  std::string channel_wait_reason;
  Phase phase = Phase::kBetweenAttempts;
  int64_t since_ms = order.created_ms;
  int64_t end_ms = now_ms;
  bool final = false;
  auto enter = [&](Phase next, int64_t at_ms) {
    spent_ms[static_cast<size_t>(phase)] += std::max<int64_t>(0, at_ms - since_ms);
    phase = next;
    since_ms = at_ms;
  };
  for (const OrderEvent& event : events) {
    const std::string_view kind = event.kind;
    if (kind == "waiting_for_channel") {
      enter(Phase::kWaitingForChannel, event.at_ms);
      channel_wait_reason = event.detail;
    } else if (kind == "attempt_started") {
      enter(Phase::kAwaitingAnswer, event.at_ms);
    } else if (kind == "supplier_processing") {
      enter(Phase::kProcessing, event.at_ms);
    } else if (kind == "outcome_unknown") {
      enter(Phase::kUnknown, event.at_ms);
    } else if (kind == "attempt_failed" || kind == "attempt_not_found" ||
               kind == "attempt_not_sent") {
      enter(Phase::kBetweenAttempts, event.at_ms);
    } else if (kind == "succeeded" || kind == "failed_refunded") {
      end_ms = event.at_ms;
      final = true;
      break;
    }
  }
  enter(phase, end_ms);

  std::string line;
  const int64_t age_ms = end_ms - order.created_ms;
  if (final) {
    line = "final " + Seconds(age_ms) + " after acceptance";
    if (end_ms > order.deadline_ms) line += " (" + Seconds(end_ms - order.deadline_ms) + " late)";
  } else {
    line = "still " + std::string(OrderStatusName(order.status)) + " at the deadline, " +
           Seconds(age_ms) + " after acceptance";
  }
  struct Part {
    int64_t ms;
    std::string text;
  };
  std::vector<Part> parts;
  auto add = [&](Phase p, std::string text) {
    const int64_t ms = spent_ms[static_cast<size_t>(p)];
    if (ms >= 1000) parts.push_back({ms, std::move(text) + " for " + Seconds(ms)});
  };
  add(Phase::kWaitingForChannel,
      "no channel admitted it" +
          (channel_wait_reason.empty() ? std::string() : " (" + channel_wait_reason + ")"));
  add(Phase::kBetweenAttempts, "no attempt live (before one, or between attempts)");
  add(Phase::kAwaitingAnswer, "waiting for a submit's answer");
  add(Phase::kProcessing, "supplier processing");
  add(Phase::kUnknown, "outcome unknown (answer lost or unreadable, queried since)");
  std::stable_sort(parts.begin(), parts.end(),
                   [](const Part& a, const Part& b) { return a.ms > b.ms; });
  for (const Part& part : parts) line += "; " + part.text;
  line += "; " + std::to_string(order.attempt_count) +
          (order.attempt_count == 1 ? " attempt" : " attempts");
  return line;
}

}  // namespace topup
