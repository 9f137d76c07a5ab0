#include "api/merchant_api.h"

#include "api/order_json.h"
#include "core/new_order.h"
#include "core/notify_address.h"
#include "core/validation.h"
#include "http/json_answer.h"

namespace topup::api {
namespace {

using http::ErrorAnswer;
using http::JsonAnswer;

// 429 with Retry-After in whole seconds, rounded up.
http::HttpResponse RateLimited(int64_t wait_ms) {
  http::HttpResponse response = JsonAnswer(
      429,
      http::ErrorToJson(Status(StatusCode::kResourceExhausted, "rate_limited",
                               "too many requests for this merchant; retry after Retry-After")));
  response.headers.emplace_back("Retry-After",
                                std::to_string(std::max<int64_t>(1, (wait_ms + 999) / 1000)));
  return response;
}

http::HttpResponse OrderNotFound() {
  return ErrorAnswer(NotFound("order_not_found", "no such order"));
}

}  // namespace

MerchantApi::MerchantApi(Store* store, Queue* queue, Clock* clock, Random* random,
                         const auth::SecretBox* secret_box, MerchantApiOptions options)
    : store_(store),
      clock_(clock),
      random_(random),
      options_(std::move(options)),
      publisher_(queue),
      authenticator_(store, secret_box, clock, options_.auth),
      rate_limiter_(clock, options_.merchant_rate, options_.merchant_rates),
      account_(store, clock) {
  store_pool_.emplace(options_.store_threads, options_.store_queue_max);
}

MerchantApi::~MerchantApi() {
  store_pool_.reset();
  std::unique_lock lock(accepts_mu_);
  accepts_done_.wait(lock, [this] { return accepts_under_way_ == 0; });
}

void MerchantApi::Handle(http::HttpRequest request, http::Responder respond) {
  auto shared = std::make_shared<http::HttpRequest>(std::move(request));
  bool posted = false;
  if (std::vector<std::string_view> segments = http::PathSegments(shared->path);
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
    respond(
        ErrorAnswer(Status(StatusCode::kResourceExhausted, "overloaded",
                           "too many requests waiting; retry with the same merchant_order_id")));
  }
}

http::HttpResponse MerchantApi::Route(const http::HttpRequest& request) {
  std::vector<std::string_view> segments = http::PathSegments(request.path);
  if (segments.size() < 2 || segments[0] != "v1" ||
      (segments[1] != "orders" && segments[1] != "balance" && segments[1] != "ledger")) {
    return http::NoRouteAnswer();
  }
  // Every merchant route is signed; nothing about the route is told to an unsigned request.
  Admission admitted = Admit(authenticator_.Authenticate(request));
  if (admitted.refusal) return std::move(*admitted.refusal);
  if (std::optional<http::HttpResponse> answer = account_.Merchant(request, admitted.merchant_id)) {
    return std::move(*answer);
  }
  if (segments[1] != "orders") return http::NoRouteAnswer();
  return RouteMerchant(request, admitted.merchant_id);
}

MerchantApi::Admission MerchantApi::Admit(Result<std::string> merchant) {
  if (!merchant.ok())
    return Admission{.merchant_id = "", .refusal = ErrorAnswer(merchant.status())};
  if (int64_t wait_ms = rate_limiter_.TryTake(*merchant); wait_ms > 0) {
    return Admission{.merchant_id = "", .refusal = RateLimited(wait_ms)};
  }
  return Admission{.merchant_id = std::move(*merchant), .refusal = std::nullopt};
}

http::HttpResponse MerchantApi::RouteMerchant(const http::HttpRequest& request,
                                              const std::string& merchant_id) {
  std::vector<std::string_view> segments = http::PathSegments(request.path);  // v1 orders ...
  if (segments.size() > 4) return http::NoRouteAnswer();
  if (segments.size() == 2) {
    if (request.method != "GET") return http::WrongMethodAnswer();
    auto merchant = request.query.find("merchant_id");
    auto merchant_order = request.query.find("merchant_order_id");
    if (merchant_order == request.query.end()) {
      return ErrorAnswer(InvalidArgument("missing_field", "query needs merchant_order_id"));
    }
    if (merchant != request.query.end() && merchant->second != merchant_id) {
      return ErrorAnswer(PermissionDenied("merchant_mismatch",
                                          "merchant_id is not the merchant of the request's key"));
    }
    Result<Order> order = store_->FindOrderByMerchantOrderId(merchant_id, merchant_order->second);
    return order.ok() ? JsonAnswer(200, OrderToJson(*order)) : ErrorAnswer(order.status());
  }
  if (request.method != "GET") return http::WrongMethodAnswer();
  std::string order_id(segments[2]);
  Result<Order> order = store_->GetOrder(order_id);
  if (!order.ok()) return ErrorAnswer(order.status());
  // Another merchant's order is answered as an absent one.
  if (order->merchant_id != merchant_id) return OrderNotFound();
  if (segments.size() == 3) return JsonAnswer(200, OrderToJson(*order));
  if (segments[3] != "events") return http::NoRouteAnswer();
  Result<std::vector<OrderEvent>> events = store_->ListEvents(order_id);
  return events.ok() ? JsonAnswer(200, EventsToJson(*events)) : ErrorAnswer(events.status());
}

void MerchantApi::CreateOrder(const http::HttpRequest& request, const std::string& merchant_id,
                              http::Responder respond) {
  Result<OrderRequest> parsed = ParseOrderRequest(request.body);
  if (!parsed.ok()) return respond(ErrorAnswer(parsed.status()));
  const OrderRequest& req = *parsed;
  if (Status valid = ValidateOrderRequest(req); !valid.ok()) return respond(ErrorAnswer(valid));
  if (!req.notify_url.empty()) {
    Status reachable = CheckNotifyUrl(req.notify_url, options_.notify_allow_private);
    if (!reachable.ok()) return respond(ErrorAnswer(reachable));
  }
  if (req.merchant_id != merchant_id) {
    return respond(ErrorAnswer(PermissionDenied(
        "merchant_mismatch", "merchant_id is not the merchant of the request's key")));
  }

  const int64_t now_ms = clock_->NowMs();
  Order order =
      NewAcceptedOrder(req, now_ms, options_.deadline_ms, options_.redeliver_after_ms, *random_);

  {
    std::lock_guard lock(accepts_mu_);
    ++accepts_under_way_;
  }
  store_->AcceptOrderAsync(std::move(order), [this, respond](Result<AcceptResult> accepted) {
    if (accepted.ok() && options_.metrics != nullptr) {
      options_.metrics->OrderAccepted(accepted->created, accepted->order.price_fen);
    }
    if (!accepted.ok()) {
      respond(ErrorAnswer(accepted.status()));
    } else if (!accepted->created) {
      respond(JsonAnswer(200, OrderToJson(accepted->order)));
    } else {
      // Durable from here on. If the queue drops the id, or this process dies before its engine
      // works a hand-off, the sweeper finds the order again once it is due.
      if (!options_.hand_off || !options_.hand_off(accepted->order)) {
        publisher_.Add(accepted->order.order_id);
      }
      respond(JsonAnswer(201, OrderToJson(accepted->order)));
    }
    std::lock_guard lock(accepts_mu_);
    if (--accepts_under_way_ == 0) accepts_done_.notify_all();
  });
}

}  // namespace topup::api
