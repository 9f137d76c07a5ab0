// A supplier channel: where attempts are sent to credit a phone (protocol v1, see
// src/engine/http_supplier_channel.h for the wire format).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace topup {

enum class SupplierOutcome {
  kSuccess,     // the supplier credited the phone
  kFailed,      // the supplier confirms this attempt will never credit the phone
  kProcessing,  // accepted, not finished: poll later
  kNotFound,    // (query only) the supplier has no record of the attempt, yet
  kNotSent,     // the request certainly never reached the supplier (e.g. connect refused)
  kUnknown,     // the request may have reached the supplier, no answer (timeout, broken link)
};

std::string_view SupplierOutcomeName(SupplierOutcome outcome);

struct SupplierAnswer {
  SupplierOutcome outcome = SupplierOutcome::kUnknown;
  std::string supplier_ref;  // when known
  std::string reason;        // supplier's or transport's explanation, for the event history
};

struct SubmitRequest {
  std::string supplier_order_id;
  std::string phone;
  int32_t face_value_yuan = 0;
  // > 0: the whole call, sending included, takes at most this long (and at most the channel's
  // attempt timeout); the request is never sent later.
  std::chrono::milliseconds timeout{0};
};

using AnswerCallback = std::function<void(SupplierAnswer)>;

// Thread-safe. Blocking calls block for at most the channel's attempt timeout.
class SupplierChannel {
 public:
  virtual ~SupplierChannel() = default;
  virtual const std::string& name() const = 0;
  // Sends the attempt once. Never retried by the channel: a second send could credit twice.
  virtual SupplierAnswer Submit(const SubmitRequest& request) = 0;
  // Asks what became of an attempt. Safe to repeat.
  virtual SupplierAnswer Query(std::string_view supplier_order_id) = 0;

  // The same without blocking the caller: `done` runs exactly once with the answer, within the
  // attempt timeout, either on a thread of the channel's or inside the call itself. `done` must
  // not block. The defaults run the blocking call on the calling thread; channels that talk to a
  // network override them.
  virtual void SubmitAsync(const SubmitRequest& request, AnswerCallback done) {
    done(Submit(request));
  }
  virtual void QueryAsync(std::string_view supplier_order_id, AnswerCallback done) {
    done(Query(supplier_order_id));
  }

  // For a process shutting down: answers every asynchronous call still in flight at once, as a
  // broken connection would (kUnknown for a submit that may have reached the supplier, kNotSent
  // for one that certainly did not), and every later call kNotSent. The default has nothing in
  // flight to answer.
  virtual void ShutDown() {}
};

}  // namespace topup
