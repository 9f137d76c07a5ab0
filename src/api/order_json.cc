#include "api/order_json.h"

#include <boost/json.hpp>

#include "api/strict_json.h"

namespace topup::api {
namespace {

namespace json = boost::json;

Status FieldError(std::string reason, const char* field, const char* expectation) {
  return InvalidArgument(std::move(reason), std::string("field '") + field + "' " + expectation);
}

// Reads a required string field into *out.
Status ReadString(const json::object& object, const char* field, bool required, std::string* out) {
  const json::value* value = object.if_contains(field);
  if (value == nullptr || value->is_null()) {
    return required ? FieldError("missing_field", field, "is required") : Status::Ok();
  }
  if (!value->is_string()) return FieldError("invalid_field_type", field, "must be a string");
  *out = json::value_to<std::string>(*value);
  return Status::Ok();
}

json::value OptionalMs(int64_t ms) { return ms == 0 ? json::value(nullptr) : json::value(ms); }

}  // namespace

Result<OrderRequest> ParseOrderRequest(const std::string& body) {
  Result<json::value> parsed = ParseJsonStrict(body);
  if (!parsed.ok()) return parsed.status();
  const json::object* object = parsed->if_object();
  if (object == nullptr)
    return InvalidArgument("malformed_json", "request body must be a JSON object");
  OrderRequest request;
  for (auto [field, out] : {std::pair{"merchant_id", &request.merchant_id},
                            std::pair{"merchant_order_id", &request.merchant_order_id},
                            std::pair{"phone", &request.phone}}) {
    if (Status s = ReadString(*object, field, true, out); !s.ok()) return s;
  }
  if (Status s = ReadString(*object, "notify_url", false, &request.notify_url); !s.ok()) return s;
  const json::value* face_value = object->if_contains("face_value");
  if (face_value == nullptr || face_value->is_null()) {
    return FieldError("missing_field", "face_value", "is required");
  }
  if (face_value->is_int64() && face_value->as_int64() >= INT32_MIN &&
      face_value->as_int64() <= INT32_MAX) {
    request.face_value_yuan = static_cast<int32_t>(face_value->as_int64());
  } else if (face_value->is_uint64() || face_value->is_int64()) {
    request.face_value_yuan = -1;  // out of range: rejected as unsupported by validation
  } else {
    return FieldError("invalid_field_type", "face_value", "must be an integer number of yuan");
  }
  return request;
}

std::string OrderToJson(const Order& o) {
  json::object out;
  out["order_id"] = o.order_id;
  out["merchant_id"] = o.merchant_id;
  out["merchant_order_id"] = o.merchant_order_id;
  out["phone"] = o.phone;
  out["carrier"] = CarrierName(o.carrier);
  out["face_value"] = o.face_value_yuan;
  out["price_fen"] = o.price_fen;
  out["status"] = OrderStatusName(o.status);
  out["refunded"] = o.status == OrderStatus::kFailed;
  out["attempt_count"] = o.attempt_count;
  out["supplier_ref"] = o.supplier_ref.empty() ? json::value(nullptr) : json::value(o.supplier_ref);
  out["fail_reason"] = o.fail_reason.empty() ? json::value(nullptr) : json::value(o.fail_reason);
  out["notify_url"] = o.notify_url.empty() ? json::value(nullptr) : json::value(o.notify_url);
  out["created_ms"] = o.created_ms;
  out["deadline_ms"] = o.deadline_ms;
  out["updated_ms"] = o.updated_ms;
  out["finished_ms"] = OptionalMs(o.finished_ms);
  return json::serialize(out);
}

std::string EventsToJson(const std::vector<OrderEvent>& events) {
  json::array list;
  for (const OrderEvent& e : events) {
    list.push_back(json::object{{"event_id", e.event_id},
                                {"at_ms", e.at_ms},
                                {"kind", e.kind},
                                {"from", OrderStatusName(e.from)},
                                {"to", OrderStatusName(e.to)},
                                {"attempt_no", e.attempt_no},
                                {"detail", e.detail}});
  }
  return json::serialize(json::object{{"events", std::move(list)}});
}

std::string MerchantToJson(const Merchant& m) {
  return json::serialize(json::object{{"merchant_id", m.merchant_id},
                                      {"name", m.name},
                                      {"balance_fen", m.balance_fen},
                                      {"created_ms", m.created_ms}});
}

std::string AuditToJson(const LedgerAudit& a) {
  return json::serialize(
      json::object{{"balanced", a.balanced},
                   {"merchants", a.merchants},
                   {"funded_fen", a.funded_fen},
                   {"debited_fen", a.debited_fen},
                   {"refunded_fen", a.refunded_fen},
                   {"balance_fen", a.balance_fen},
                   {"open_and_succeeded_price_fen", a.open_and_succeeded_price_fen},
                   {"problems", a.problems}});
}

}  // namespace topup::api
