// SimulatedCallbacks: one simulated supplier's callbacks. For an attempt that reached the
// supplier it plans, from the seeded random source, the signed reports it will send about it:
// none (lost), one as soon as the outcome settles (usually before the submit's own answer gets
// back), one minutes late, the same one twice, one replayed long after, and sometimes a
// "processing" note first. Each is an event of the world's EventQueue; when it fires, the report
// tells what the CreditBook says then, and goes to a node that is up through the engine's own
// SupplierCallbacks::Handle, the code behind POST /v1/supplier-callbacks/{channel}. A delivery
// that finds no node up, or a store error, is sent again, a bounded number of times.
//
// Threading: the simulation's one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "simulate/credit_book.h"
#include "simulate/event_queue.h"
#include "simulate/trace.h"
#include "topup/clock.h"
#include "topup/random.h"
#include "topup/status.h"

namespace topup::simulate {

class SimulatedCallbacks {
 public:
  // Hands a callback to topup: SupplierCallbacks::Handle of a node that is up, or
  // Unavailable("no_node_up").
  using Receiver = std::function<Result<std::string>(
      const std::string& channel, std::string_view body, std::string_view signature_hex)>;
  using ViolationSink = std::function<void(const std::string& violation)>;
  // Deliveries of one report at most, the first included.
  static constexpr int kMaxDeliveries = 4;

  // The pointers must outlive this object. `clock` is the world's wall clock (with its jumps).
  SimulatedCallbacks(std::string channel, std::string secret, EventQueue* events,
                     const Clock* clock, Random* random, const CreditBook* book, Trace* trace,
                     Receiver receiver, ViolationSink on_violation);

  // Plans the reports about attempt `supplier_order_id`, which reached the supplier now and
  // whose outcome settles at `final_ms` (on `clock`).
  void Plan(const std::string& supplier_order_id, int64_t final_ms);
  // Reports that moved an order (SupplierCallbacks::Handle answered "applied").
  int applied() const { return applied_; }

 private:
  // Sends the report about `supplier_order_id` `after_ms` from now.
  void SendIn(int64_t after_ms, const std::string& supplier_order_id, int deliveries_left);
  void Send(const std::string& supplier_order_id, int deliveries_left);
  std::string Body(const std::string& supplier_order_id, std::string* status);

  const std::string channel_;
  const std::string secret_;
  EventQueue* const events_;
  const Clock* const clock_;
  Random* const random_;
  const CreditBook* const book_;
  Trace* const trace_;
  const Receiver receiver_;
  const ViolationSink on_violation_;
  uint64_t refs_ = 0;
  int applied_ = 0;
};

}  // namespace topup::simulate
