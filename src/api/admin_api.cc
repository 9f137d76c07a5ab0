#include "api/admin_api.h"

#include <boost/json.hpp>

#include "api/log_level_route.h"
#include "api/order_json.h"
#include "api/strict_json.h"
#include "http/json_answer.h"

namespace topup::api {
namespace {

namespace json = boost::json;

using http::ErrorAnswer;
using http::JsonAnswer;

}  // namespace

AdminApi::AdminApi(Store* store, Clock* clock, const auth::SecretBox* secret_box,
                   AdminApiOptions options)
    : store_(store),
      clock_(clock),
      gate_(std::move(options.admin_token)),
      account_(store, clock),
      keys_(store, secret_box, clock, std::move(options.key_revoked)) {
  store_pool_.emplace(options.store_threads, options.store_queue_max);
}

AdminApi::~AdminApi() { store_pool_.reset(); }

void AdminApi::Handle(http::HttpRequest request, http::Responder respond) {
  if (std::optional<http::HttpResponse> refusal = gate_.Refusal(request)) {
    return respond(std::move(*refusal));
  }
  auto shared = std::make_shared<http::HttpRequest>(std::move(request));
  if (!store_pool_->Post([this, shared, respond] { respond(Route(*shared)); })) {
    respond(ErrorAnswer(Status(StatusCode::kResourceExhausted, "overloaded",
                               "too many admin requests waiting; retry later")));
  }
}

http::HttpResponse AdminApi::Route(const http::HttpRequest& request) {
  if (std::optional<http::HttpResponse> answer = account_.Admin(request)) {
    return std::move(*answer);
  }
  const std::vector<std::string_view> segments = http::PathSegments(request.path);  // v1 admin
  if (segments.size() == 3 && segments[2] == "audit") {
    if (request.method != "GET") return http::WrongMethodAnswer();
    Result<LedgerAudit> audit = store_->AuditLedger();
    return audit.ok() ? JsonAnswer(200, AuditToJson(*audit)) : ErrorAnswer(audit.status());
  }
  if (segments.size() == 3 && segments[2] == "log-level") return LogLevelAnswer(request);
  if (segments.size() >= 3 && segments.size() <= 6 && segments[2] == "merchants") {
    if (segments.size() >= 5 && segments[4] == "keys") {
      return keys_.Answer(request, std::string(segments[3]));
    }
    if (segments.size() <= 5) return Merchants(request);
  }
  return http::NoRouteAnswer();
}

http::HttpResponse AdminApi::Merchants(const http::HttpRequest& request) {
  const std::vector<std::string_view> segments =
      http::PathSegments(request.path);  // v1 admin merchants [id [fund]]
  const int64_t now_ms = clock_->NowMs();
  if (segments.size() == 4 && request.method == "GET") {
    Result<Merchant> merchant = store_->GetMerchant(std::string(segments[3]));
    return merchant.ok() ? JsonAnswer(200, MerchantToJson(*merchant))
                         : ErrorAnswer(merchant.status());
  }
  if (request.method != "POST") return http::WrongMethodAnswer();
  Result<json::value> body = ParseJsonStrict(request.body);
  if (!body.ok()) return ErrorAnswer(body.status());
  if (!body->is_object()) {
    return ErrorAnswer(InvalidArgument("malformed_json", "request body must be a JSON object"));
  }
  const json::object& object = body->as_object();
  if (segments.size() == 3) {
    const json::value* id = object.if_contains("merchant_id");
    const json::value* name = object.if_contains("name");
    if (id == nullptr || !id->is_string()) {
      return ErrorAnswer(
          InvalidArgument("missing_field", "field 'merchant_id' (string) is required"));
    }
    std::string merchant_id = json::value_to<std::string>(*id);
    std::string merchant_name =
        name && name->is_string() ? json::value_to<std::string>(*name) : merchant_id;
    if (Status created = store_->CreateMerchant(merchant_id, merchant_name, now_ms);
        !created.ok()) {
      return ErrorAnswer(created);
    }
    Result<Merchant> merchant = store_->GetMerchant(merchant_id);
    return merchant.ok() ? JsonAnswer(201, MerchantToJson(*merchant))
                         : ErrorAnswer(merchant.status());
  }
  if (segments.size() == 5 && segments[4] == "fund") {
    const json::value* amount = object.if_contains("amount_fen");
    if (amount == nullptr || !amount->is_int64()) {
      return ErrorAnswer(
          InvalidArgument("missing_field", "field 'amount_fen' (integer) is required"));
    }
    const json::value* note = object.if_contains("note");
    std::string note_text = note && note->is_string() ? json::value_to<std::string>(*note) : "";
    std::string merchant_id(segments[3]);
    Result<int64_t> balance =
        store_->FundMerchant(merchant_id, amount->as_int64(), note_text, now_ms);
    if (!balance.ok()) return ErrorAnswer(balance.status());
    Result<Merchant> merchant = store_->GetMerchant(merchant_id);
    return merchant.ok() ? JsonAnswer(200, MerchantToJson(*merchant))
                         : ErrorAnswer(merchant.status());
  }
  return http::NoRouteAnswer();
}

}  // namespace topup::api
