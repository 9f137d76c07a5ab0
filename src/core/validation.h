// Validation of what merchants send, with the API's stable error reasons.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "topup/order.h"
#include "topup/status.h"

namespace topup {

// Face values, in yuan, that topup sells.
std::span<const int32_t> SupportedFaceValuesYuan();

// OK, or InvalidArgument with reason "invalid_phone" (not 11 digits 1[3-9]...),
// "unsupported_face_value", "invalid_merchant_id", "invalid_merchant_order_id",
// "invalid_notify_url".
Status ValidateOrderRequest(const OrderRequest& request);

// True for identifiers of 1..64 characters from [A-Za-z0-9_.-].
bool IsValidIdentifier(std::string_view id);

// True for merchant ids (and key ids): 1..64 characters from [A-Za-z0-9_-]. The one rule for the
// API and every store.
bool IsValidMerchantId(std::string_view id);

// Price in fen that a merchant pays for a face value.
int64_t PriceFenOfFaceValue(int32_t face_value_yuan);

}  // namespace topup
