// Why an order is late: the engine's own account, written into the order's history as a
// kDeadlineMissedEvent by the first step of the order at or after its deadline, so that operators
// (and `topup demo` and `topup chaos`) read the reason from the store instead of guessing it.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "topup/order.h"
#include "topup/store.h"

namespace topup {

// One line on where the time of `order` went, from its history `events` (oldest first) up to
// now_ms or its final event: waiting for a channel, waiting between attempts, waiting for a
// submit's answer, the supplier answering processing, the outcome unknown. For example
//   "final 211 s after acceptance (31 s late); no channel admitted it for 95 s (channels_busy:
//    ...); supplier processing for 60 s; 2 attempts"
//   "still unknown at the deadline, 180 s after acceptance; outcome unknown for 150 s; 1 attempt"
std::string ExplainLateness(const Order& order, std::span<const OrderEvent> events, int64_t now_ms);

// If `t` is the first step of `order` at or after its deadline, sets t->deadline_missed_detail to
// ExplainLateness of the order's history from `store` and of the step itself. `order` is the
// order as the caller last read it; the compare-and-set of `t` makes sure no other step came
// between, so the reason is written once. Costs a read of the history, only for late orders.
void NoteIfLate(Store& store, const Order& order, Transition* t);

// Whether NoteIfLate would note anything for a step of `order` at now_ms: the order's deadline
// has passed and no step was recorded since. No I/O.
bool IsFirstStepAfterDeadline(const Order& order, int64_t now_ms);

}  // namespace topup
