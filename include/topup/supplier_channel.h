// A supplier channel: where attempts are sent to credit a phone (protocol v1, see
// src/engine/http_supplier_channel.h for the wire format).
#pragma once

#include <cstdint>
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
};

// Thread-safe. Calls block for at most the channel's attempt timeout.
class SupplierChannel {
 public:
  virtual ~SupplierChannel() = default;
  virtual const std::string& name() const = 0;
  // Sends the attempt once. Never retried by the channel: a second send could credit twice.
  virtual SupplierAnswer Submit(const SubmitRequest& request) = 0;
  // Asks what became of an attempt. Safe to repeat.
  virtual SupplierAnswer Query(std::string_view supplier_order_id) = 0;
};

}  // namespace topup
