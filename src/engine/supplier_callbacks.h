// SupplierCallbacks: resolves attempts from the suppliers' own signed reports.
//
//   POST /v1/supplier-callbacks/{channel}
//   X-Signature: hex(HMAC-SHA256(channel's callback_secret, raw body))
//   {"supplier_order_id": "...", "status": "success"|"failed"|"processing", "supplier_ref"?: "..."}
//
// A callback is one more answer about one attempt, applied with the same compare-and-set as a
// worker's poll answer, so it may arrive before the submit's own answer, twice, or out of order:
// whichever answer is applied first wins, later ones find the state moved and change nothing.
#pragma once

#include <string>
#include <string_view>

#include "engine/channel_router.h"
#include "engine/order_policy.h"
#include "observe/metrics.h"
#include "topup/clock.h"
#include "topup/store.h"

namespace topup {

class SupplierCallbacks {
 public:
  // The pointers must outlive this object. `metrics` may be null.
  SupplierCallbacks(Store* store, ChannelRouter* router, Clock* clock, OrderPolicy policy,
                    observe::Metrics* metrics = nullptr);

  // Verifies and applies one callback. Returns what it did ("applied", "already_final",
  // "stale_attempt", "no_change"). Errors: NotFound("unknown_channel"),
  // Unauthenticated("bad_signature"), InvalidArgument("malformed_callback"),
  // NotFound("unknown_supplier_order_id").
  Result<std::string> Handle(const std::string& channel_name, std::string_view body,
                             std::string_view signature_hex);

 private:
  Store* const store_;
  ChannelRouter* const router_;
  Clock* const clock_;
  const OrderPolicy policy_;
  observe::Metrics* const metrics_;
};

}  // namespace topup
