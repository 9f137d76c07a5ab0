#include "api/order_api.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "api/order_json.h"
#include "api/strict_json.h"
#include "auth/constant_time.h"
#include "auth/merchant_keys.h"
#include "core/carrier.h"
#include "core/notify_address.h"
#include "core/order_id.h"
#include "core/validation.h"

namespace topup::api {
namespace {

namespace json = boost::json;

http::HttpResponse Json(int status, std::string body) {
  http::HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

http::HttpResponse Error(const Status& status) {
  return Json(HttpStatusOf(status), ErrorToJson(status));
}

// Neither answer repeats the method or the path: what a client sent is never echoed.
http::HttpResponse NoRoute(const http::HttpRequest& /*request*/) {
  return Error(NotFound("no_such_route", "no route for this path"));
}

http::HttpResponse WrongMethod(const http::HttpRequest& /*request*/) {
  return Json(405, ErrorToJson(Status(StatusCode::kInvalidArgument, "method_not_allowed",
                                      "this method is not allowed on this path")));
}

// 429 with Retry-After in whole seconds, rounded up.
http::HttpResponse RateLimited(int64_t wait_ms) {
  http::HttpResponse response = Json(
      429, ErrorToJson(Status(StatusCode::kResourceExhausted, "rate_limited",
                              "too many requests for this merchant; retry after Retry-After")));
  response.headers.emplace_back("Retry-After",
                                std::to_string(std::max<int64_t>(1, (wait_ms + 999) / 1000)));
  return response;
}

http::HttpResponse OrderNotFound() { return Error(NotFound("order_not_found", "no such order")); }

json::object KeyToJson(const MerchantKey& key) {
  return json::object{
      {"key_id", key.key_id},
      {"merchant_id", key.merchant_id},
      {"created_ms", key.created_ms},
      {"revoked_ms", key.revoked_ms == 0 ? json::value(nullptr) : json::value(key.revoked_ms)},
      {"active", key.revoked_ms == 0}};
}

// Splits "/a/b/c" into {"a", "b", "c"}.
std::vector<std::string_view> PathSegments(std::string_view path) {
  std::vector<std::string_view> segments;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    size_t slash = path.find('/');
    segments.push_back(path.substr(0, slash));
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  return segments;
}

}  // namespace

OrderApi::OrderApi(Store* store, Queue* queue, Clock* clock, Random* random,
                   const auth::SecretBox* secret_box, OrderApiOptions options,
                   SupplierCallbacks* callbacks)
    : store_(store),
      clock_(clock),
      random_(random),
      secret_box_(secret_box),
      callbacks_(callbacks),
      options_(std::move(options)),
      publisher_(queue),
      authenticator_(store, secret_box, clock, options_.auth),
      rate_limiter_(clock, options_.merchant_rate, options_.merchant_rates),
      account_(store, clock) {
  store_pool_.emplace(options_.store_threads, options_.store_queue_max);
}

OrderApi::~OrderApi() {
  store_pool_.reset();
  std::unique_lock lock(accepts_mu_);
  accepts_done_.wait(lock, [this] { return accepts_under_way_ == 0; });
}

void OrderApi::Handle(http::HttpRequest request, http::Responder respond) {
  if (request.path == "/healthz") {
    respond(request.method == "GET" ? Json(200, R"({"status":"ok"})") : WrongMethod(request));
    return;
  }
  auto shared = std::make_shared<http::HttpRequest>(std::move(request));
  bool posted = false;
  if (std::vector<std::string_view> segments = PathSegments(shared->path);
      shared->method == "POST" && segments.size() == 2 && segments[0] == "v1" &&
      segments[1] == "orders") {
    // The hot path: a key seen recently is checked here, on the I/O thread; otherwise the store
    // is read on a store thread, and the order goes on from there.
    if (std::optional<Result<std::string>> merchant =
            authenticator_.TryAuthenticateCached(*shared)) {
      Admission admitted = Admit(std::move(*merchant));
      if (admitted.refusal) return respond(std::move(*admitted.refusal));
      return CreateOrder(*shared, admitted.merchant_id, std::move(respond));
    }
    posted = store_pool_->Post([this, shared, respond] {
      Admission admitted = Admit(authenticator_.Authenticate(*shared));
      if (admitted.refusal) return respond(std::move(*admitted.refusal));
      CreateOrder(*shared, admitted.merchant_id, respond);
    });
  } else {
    posted = store_pool_->Post([this, shared, respond] { respond(Route(*shared)); });
  }
  if (!posted) {
    respond(Error(Status(StatusCode::kResourceExhausted, "overloaded",
                         "too many requests waiting; retry with the same merchant_order_id")));
  }
}

http::HttpResponse OrderApi::Route(const http::HttpRequest& request) {
  std::vector<std::string_view> segments = PathSegments(request.path);
  if (segments.size() < 2 || segments[0] != "v1") return NoRoute(request);
  if (segments[1] == "admin") return RouteAdmin(request);
  if (segments[1] == "supplier-callbacks" && segments.size() == 3) {
    if (request.method != "POST") return WrongMethod(request);
    return SupplierCallback(request, std::string(segments[2]));
  }
  if (segments[1] != "orders" && segments[1] != "balance" && segments[1] != "ledger") {
    return NoRoute(request);
  }
  // Every merchant route is signed; nothing about the route is told to an unsigned request.
  Admission admitted = Admit(authenticator_.Authenticate(request));
  if (admitted.refusal) return std::move(*admitted.refusal);
  if (std::optional<http::HttpResponse> answer = account_.Merchant(request, admitted.merchant_id)) {
    return std::move(*answer);
  }
  if (segments[1] != "orders") return NoRoute(request);
  return RouteMerchant(request, admitted.merchant_id);
}

OrderApi::Admission OrderApi::Admit(Result<std::string> merchant) {
  if (!merchant.ok()) return Admission{.merchant_id = "", .refusal = Error(merchant.status())};
  if (int64_t wait_ms = rate_limiter_.TryTake(*merchant); wait_ms > 0) {
    return Admission{.merchant_id = "", .refusal = RateLimited(wait_ms)};
  }
  return Admission{.merchant_id = std::move(*merchant), .refusal = std::nullopt};
}

http::HttpResponse OrderApi::RouteMerchant(const http::HttpRequest& request,
                                           const std::string& merchant_id) {
  std::vector<std::string_view> segments = PathSegments(request.path);  // v1 orders ...
  if (segments.size() > 4) return NoRoute(request);
  if (segments.size() == 2) {
    if (request.method != "GET") return WrongMethod(request);
    auto merchant = request.query.find("merchant_id");
    auto merchant_order = request.query.find("merchant_order_id");
    if (merchant_order == request.query.end()) {
      return Error(InvalidArgument("missing_field", "query needs merchant_order_id"));
    }
    if (merchant != request.query.end() && merchant->second != merchant_id) {
      return Error(PermissionDenied("merchant_mismatch",
                                    "merchant_id is not the merchant of the request's key"));
    }
    Result<Order> order = store_->FindOrderByMerchantOrderId(merchant_id, merchant_order->second);
    return order.ok() ? Json(200, OrderToJson(*order)) : Error(order.status());
  }
  if (request.method != "GET") return WrongMethod(request);
  std::string order_id(segments[2]);
  Result<Order> order = store_->GetOrder(order_id);
  if (!order.ok()) return Error(order.status());
  // Another merchant's order is answered as an absent one.
  if (order->merchant_id != merchant_id) return OrderNotFound();
  if (segments.size() == 3) return Json(200, OrderToJson(*order));
  if (segments[3] != "events") return NoRoute(request);
  Result<std::vector<OrderEvent>> events = store_->ListEvents(order_id);
  return events.ok() ? Json(200, EventsToJson(*events)) : Error(events.status());
}

void OrderApi::CreateOrder(const http::HttpRequest& request, const std::string& merchant_id,
                           http::Responder respond) {
  Result<OrderRequest> parsed = ParseOrderRequest(request.body);
  if (!parsed.ok()) return respond(Error(parsed.status()));
  const OrderRequest& req = *parsed;
  if (Status valid = ValidateOrderRequest(req); !valid.ok()) return respond(Error(valid));
  if (!req.notify_url.empty()) {
    Status reachable = CheckNotifyUrl(req.notify_url, options_.notify_allow_private);
    if (!reachable.ok()) return respond(Error(reachable));
  }
  if (req.merchant_id != merchant_id) {
    return respond(Error(PermissionDenied("merchant_mismatch",
                                          "merchant_id is not the merchant of the request's key")));
  }

  const int64_t now_ms = clock_->NowMs();
  Order order;
  order.order_id = NewOrderId(now_ms, *random_);
  order.merchant_id = req.merchant_id;
  order.merchant_order_id = req.merchant_order_id;
  order.phone = req.phone;
  order.carrier = CarrierOfPhone(req.phone);
  order.face_value_yuan = req.face_value_yuan;
  order.price_fen = PriceFenOfFaceValue(req.face_value_yuan);
  order.notify_url = req.notify_url;
  order.status = OrderStatus::kAccepted;
  order.created_ms = now_ms;
  order.updated_ms = now_ms;
  order.deadline_ms = now_ms + options_.deadline_ms;
  order.next_check_ms = now_ms + options_.redeliver_after_ms;

  {
    std::lock_guard lock(accepts_mu_);
    ++accepts_under_way_;
  }
  store_->AcceptOrderAsync(std::move(order), [this, respond](Result<AcceptResult> accepted) {
    if (accepted.ok() && options_.metrics != nullptr) {
      options_.metrics->OrderAccepted(accepted->created, accepted->order.price_fen);
    }
    if (!accepted.ok()) {
      respond(Error(accepted.status()));
    } else if (!accepted->created) {
      respond(Json(200, OrderToJson(accepted->order)));
    } else {
      // Durable from here on. If the queue drops the id, the sweeper finds the order again.
      publisher_.Add(accepted->order.order_id);
      respond(Json(201, OrderToJson(accepted->order)));
    }
    std::lock_guard lock(accepts_mu_);
    if (--accepts_under_way_ == 0) accepts_done_.notify_all();
  });
}

http::HttpResponse OrderApi::SupplierCallback(const http::HttpRequest& request,
                                              std::string channel) {
  if (callbacks_ == nullptr) return NoRoute(request);
  Result<std::string> handled =
      callbacks_->Handle(channel, request.body, request.Header("x-signature"));
  if (!handled.ok()) return Error(handled.status());
  return Json(200, json::serialize(json::object{{"result", *handled}}));
}

http::HttpResponse OrderApi::RouteAdmin(const http::HttpRequest& request) {
  if (options_.admin_token.empty()) {
    return Json(403, ErrorToJson(Status(StatusCode::kUnauthenticated, "admin_disabled",
                                        "the server was started without an admin token")));
  }
  std::string_view authorization = request.Header("authorization");
  constexpr std::string_view kBearer = "Bearer ";
  // Compared whatever the lengths: a missing prefix compares the empty string.
  const std::string_view presented =
      authorization.starts_with(kBearer) ? authorization.substr(kBearer.size()) : "";
  if (!auth::SecretsEqual(presented, options_.admin_token)) {
    return Error(Status(StatusCode::kUnauthenticated, "bad_admin_token",
                        "admin endpoints need the header Authorization: Bearer <admin token>"));
  }
  if (std::optional<http::HttpResponse> answer = account_.Admin(request)) {
    return std::move(*answer);
  }
  std::vector<std::string_view> segments = PathSegments(request.path);  // v1 admin ...
  const int64_t now_ms = clock_->NowMs();
  if (segments.size() == 3 && segments[2] == "audit") {
    if (request.method != "GET") return WrongMethod(request);
    Result<LedgerAudit> audit = store_->AuditLedger();
    return audit.ok() ? Json(200, AuditToJson(*audit)) : Error(audit.status());
  }
  if (segments.size() < 3 || segments[2] != "merchants" || segments.size() > 6) {
    return NoRoute(request);
  }
  if (segments.size() >= 5 && segments[4] == "keys") {
    return RouteAdminKeys(request, std::string(segments[3]));
  }
  if (segments.size() == 6) return NoRoute(request);
  if (segments.size() == 4 && request.method == "GET") {
    Result<Merchant> merchant = store_->GetMerchant(std::string(segments[3]));
    return merchant.ok() ? Json(200, MerchantToJson(*merchant)) : Error(merchant.status());
  }
  if (request.method != "POST") return WrongMethod(request);
  Result<json::value> body = ParseJsonStrict(request.body);
  if (!body.ok()) return Error(body.status());
  if (!body->is_object()) {
    return Error(InvalidArgument("malformed_json", "request body must be a JSON object"));
  }
  const json::object& object = body->as_object();
  if (segments.size() == 3) {
    const json::value* id = object.if_contains("merchant_id");
    const json::value* name = object.if_contains("name");
    if (id == nullptr || !id->is_string()) {
      return Error(InvalidArgument("missing_field", "field 'merchant_id' (string) is required"));
    }
    std::string merchant_id = json::value_to<std::string>(*id);
    std::string merchant_name =
        name && name->is_string() ? json::value_to<std::string>(*name) : merchant_id;
    if (Status created = store_->CreateMerchant(merchant_id, merchant_name, now_ms);
        !created.ok()) {
      return Error(created);
    }
    Result<Merchant> merchant = store_->GetMerchant(merchant_id);
    return merchant.ok() ? Json(201, MerchantToJson(*merchant)) : Error(merchant.status());
  }
  if (segments.size() == 5 && segments[4] == "fund") {
    const json::value* amount = object.if_contains("amount_fen");
    if (amount == nullptr || !amount->is_int64()) {
      return Error(InvalidArgument("missing_field", "field 'amount_fen' (integer) is required"));
    }
    const json::value* note = object.if_contains("note");
    std::string note_text = note && note->is_string() ? json::value_to<std::string>(*note) : "";
    std::string merchant_id(segments[3]);
    Result<int64_t> balance =
        store_->FundMerchant(merchant_id, amount->as_int64(), note_text, now_ms);
    if (!balance.ok()) return Error(balance.status());
    Result<Merchant> merchant = store_->GetMerchant(merchant_id);
    return merchant.ok() ? Json(200, MerchantToJson(*merchant)) : Error(merchant.status());
  }
  return NoRoute(request);
}

http::HttpResponse OrderApi::RouteAdminKeys(const http::HttpRequest& request,
                                            const std::string& merchant_id) {
  std::vector<std::string_view> segments =
      PathSegments(request.path);  // v1 admin merchants id keys
  const int64_t now_ms = clock_->NowMs();
  if (segments.size() == 5 && request.method == "POST") {
    Result<auth::NewMerchantKey> made =
        auth::CreateMerchantKey(*store_, *secret_box_, merchant_id, now_ms);
    if (!made.ok()) return Error(made.status());
    // The only answer that ever holds the secret.
    return Json(201, json::serialize(json::object{{"key_id", made->key_id},
                                                  {"merchant_id", merchant_id},
                                                  {"secret", made->secret},
                                                  {"created_ms", made->created_ms}}));
  }
  if (segments.size() == 5 && request.method == "GET") {
    Result<std::vector<MerchantKey>> keys = store_->ListMerchantKeys(merchant_id);
    if (!keys.ok()) return Error(keys.status());
    json::array list;
    for (const MerchantKey& key : *keys) list.push_back(KeyToJson(key));
    return Json(200, json::serialize(json::object{{"keys", std::move(list)}}));
  }
  if (segments.size() == 6 && request.method == "DELETE") {
    std::string key_id(segments[5]);
    if (Status revoked = store_->RevokeMerchantKey(merchant_id, key_id, now_ms); !revoked.ok()) {
      return Error(revoked);
    }
    authenticator_.Forget(key_id);
    Result<MerchantKey> key = store_->GetMerchantKey(key_id);
    return key.ok() ? Json(200, json::serialize(KeyToJson(*key))) : Error(key.status());
  }
  return WrongMethod(request);
}

}  // namespace topup::api
