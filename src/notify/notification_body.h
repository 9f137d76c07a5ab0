// What a merchant receives: the JSON body of a notification.
#pragma once

#include <string>

#include "topup/store.h"

namespace topup::notify {

// {order_id, merchant_order_id, status, face_value, price_fen, created_at, finished_at,
// supplier_ref?}; times are RFC 3339 UTC with milliseconds, supplier_ref only when known.
// REQUIRES: IsFinal(claimed.notification.order_status).
std::string NotificationBody(const ClaimedNotification& claimed);

// "2023-11-14T22:13:20.000Z" for 1'700'000'000'000.
std::string Rfc3339Utc(int64_t unix_ms);

}  // namespace topup::notify
