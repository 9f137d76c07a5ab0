// The body of a supplier's callback, once its signature checked out:
//   {"supplier_order_id": str, "status": "success"|"failed"|"processing", "supplier_ref"?: str}
// A supplier is untrusted input: anything else is refused, never guessed at.
#pragma once

#include <string>
#include <string_view>

#include "topup/status.h"
#include "topup/supplier_channel.h"

namespace topup {

struct CallbackBody {
  std::string supplier_order_id;
  bool processing = false;  // nothing to record yet
  SupplierAnswer answer;    // kSuccess or kFailed unless processing; reason "callback"
};

// InvalidArgument("malformed_callback") unless `body` is of the form above.
Result<CallbackBody> ParseCallbackBody(std::string_view body);

}  // namespace topup
