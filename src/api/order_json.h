// JSON mapping of the merchant API: orders, merchants, events and the audit (errors:
// http/json_answer.h).
#pragma once

#include <string>
#include <vector>

#include "topup/order.h"
#include "topup/status.h"
#include "topup/store.h"

namespace topup::api {

// Parses a POST /v1/orders body. InvalidArgument with reason "malformed_json",
// "duplicate_json_key", "missing_field" or "invalid_field_type" (the message names the field).
// Does not validate values.
Result<OrderRequest> ParseOrderRequest(const std::string& body);

std::string OrderToJson(const Order& order);
std::string EventsToJson(const std::vector<OrderEvent>& events);
std::string MerchantToJson(const Merchant& merchant);
std::string AuditToJson(const LedgerAudit& audit);

}  // namespace topup::api
