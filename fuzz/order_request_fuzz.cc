// libFuzzer target: a POST /v1/orders body through strict JSON parsing, the order request
// mapping and validation. Nothing may crash; a valid request must survive a round trip.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "api/order_json.h"
#include "api/strict_json.h"
#include "core/validation.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  topup::Result<boost::json::value> strict = topup::api::ParseJsonStrict(body);
  topup::Result<topup::OrderRequest> request = topup::api::ParseOrderRequest(body);
  // What strict parsing refuses, the order parser refuses too.
  if (!strict.ok() && request.ok()) std::abort();
  if (request.ok()) {
    topup::Status valid = topup::ValidateOrderRequest(*request);
    if (valid.ok() && (request->merchant_id.empty() || request->phone.size() != 11)) std::abort();
  }
  return 0;
}
