// The one place a merchant's request becomes an order, before the store is asked to accept it.
#pragma once

#include <cstdint>

#include "topup/order.h"
#include "topup/random.h"

namespace topup {

// An accepted order for `request` (already validated) with a new id: created at `now_ms`, final
// by `now_ms + deadline_after_ms`, and due for a look from the store at
// `now_ms + redeliver_after_ms` should no engine take it up before then.
Order NewAcceptedOrder(const OrderRequest& request, int64_t now_ms, int64_t deadline_after_ms,
                       int64_t redeliver_after_ms, Random& random);

}  // namespace topup
