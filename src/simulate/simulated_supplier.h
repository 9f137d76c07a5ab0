// SimulatedSupplier: one supplier of the simulated world, with every misbehaviour of `topup sim`
// and more, decided per attempt from the seeded random source when the attempt arrives:
//   * during an outage it refuses connections (nothing reaches it);
//   * a connection resets before it acts (nothing recorded: queries answer not_found for good);
//   * it fails the attempt, or credits the phone; it never deduplicates, so an attempt sent
//     twice credits twice;
//   * it answers "processing" (the outcome shows on queries later, up to minutes later), or the
//     outcome, after a latency that may exceed the caller's timeout, or never (a black hole);
//   * having credited, it answers HTTP 5xx, an unreadable body or a status the protocol lacks;
//   * its query index lags its intake (by less than the engine's not-found grace), and a query
//     may answer HTTP 503;
//   * it calls back about what it did (SimulatedCallbacks), early, late, twice, or never.
// What it did is written into the world's CreditBook, which survives every crash of topup.
//
// Threading: the simulation's one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http/http_message.h"
#include "simulate/credit_book.h"
#include "simulate/faults.h"
#include "simulate/simulated_callbacks.h"
#include "simulate/trace.h"
#include "topup/clock.h"
#include "topup/random.h"
#include "topup/status.h"
#include "topup/supplier_channel.h"

namespace topup::simulate {

// What the caller's end of the connection sees, and how long after the call.
struct SupplierReply {
  std::optional<int64_t> after_ms;                             // nullopt: never answered
  Result<http::HttpResponse> exchange = http::HttpResponse{};  // or the transport's failure
};

class SimulatedSupplier {
 public:
  // The pointers must outlive the supplier. `clock` is the world's wall clock (it jumps for the
  // supplier as for topup: a jump is time passing at once, as when a machine is suspended).
  // `callbacks` is null if the supplier never calls back.
  SimulatedSupplier(std::string name, const Clock* clock, Random* random, const Faults* faults,
                    CreditBook* book, Trace* trace, SimulatedCallbacks* callbacks);

  const std::string& name() const { return name_; }
  // Handles a submit arriving now. Sets *violation if the attempt breaks "one live attempt per
  // order" (see CreditBook::Record).
  SupplierReply Submit(const SubmitRequest& request, std::optional<std::string>* violation);
  SupplierReply Query(std::string_view supplier_order_id);
  // Refuses everything from `from_ms` for `duration_ms`.
  void ScheduleOutage(int64_t from_ms, int64_t duration_ms);

 private:
  int64_t Latency();
  static http::HttpResponse Json(int status, std::string body);

  const std::string name_;
  const Clock* const clock_;
  Random* const random_;
  const Faults* const faults_;
  CreditBook* const book_;
  Trace* const trace_;
  SimulatedCallbacks* const callbacks_;
  int64_t outage_from_ms_ = 0;
  int64_t outage_until_ms_ = 0;
  uint64_t refs_ = 0;
};

}  // namespace topup::simulate
