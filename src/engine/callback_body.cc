#include "engine/callback_body.h"

#include <boost/json.hpp>

namespace topup {
namespace {

namespace json = boost::json;

Status Malformed(std::string message) {
  return InvalidArgument("malformed_callback", std::move(message));
}

}  // namespace

Result<CallbackBody> ParseCallbackBody(std::string_view body) {
  boost::system::error_code error;
  json::value parsed = json::parse(body, error);
  const json::object* object = error ? nullptr : parsed.if_object();
  if (object == nullptr) return Malformed("body must be a JSON object");
  const json::value* id = object->if_contains("supplier_order_id");
  const json::value* status = object->if_contains("status");
  if (id == nullptr || !id->is_string() || status == nullptr || !status->is_string()) {
    return Malformed("supplier_order_id and status (strings) are required");
  }
  CallbackBody callback;
  callback.supplier_order_id = json::value_to<std::string>(*id);
  if (*status == "success") {
    callback.answer.outcome = SupplierOutcome::kSuccess;
  } else if (*status == "failed") {
    callback.answer.outcome = SupplierOutcome::kFailed;
  } else if (*status == "processing") {
    callback.processing = true;
  } else {
    return Malformed("status must be success, failed or processing");
  }
  if (const json::value* ref = object->if_contains("supplier_ref"); ref && ref->is_string()) {
    callback.answer.supplier_ref = json::value_to<std::string>(*ref);
  }
  callback.answer.reason = "callback";
  return callback;
}

}  // namespace topup
