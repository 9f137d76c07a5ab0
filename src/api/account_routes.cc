#include "api/account_routes.h"

#include <boost/json.hpp>

#include <charconv>
#include <string_view>
#include <vector>

#include "api/order_json.h"
#include "http/json_answer.h"

namespace topup::api {
namespace {

namespace json = boost::json;

constexpr size_t kDefaultPageRows = 100;
constexpr size_t kMaxPageRows = 1'000;

using http::ErrorAnswer;
using http::JsonAnswer;

// A non-negative integer query parameter; `fallback` when absent.
Result<int64_t> IntParameter(const http::HttpRequest& request, const std::string& name,
                             int64_t fallback) {
  auto it = request.query.find(name);
  if (it == request.query.end() || it->second.empty()) return fallback;
  int64_t value = 0;
  const char* begin = it->second.data();
  const char* end = begin + it->second.size();
  auto [stop, error] = std::from_chars(begin, end, value);
  if (error != std::errc() || stop != end || value < 0) {
    return InvalidArgument("invalid_query", name + " must be a non-negative integer");
  }
  return value;
}

Result<size_t> Limit(const http::HttpRequest& request) {
  Result<int64_t> limit = IntParameter(request, "limit", kDefaultPageRows);
  if (!limit.ok()) return limit.status();
  if (*limit < 1 || *limit > static_cast<int64_t>(kMaxPageRows)) {
    return InvalidArgument("invalid_query", "limit must be in 1..1000");
  }
  return static_cast<size_t>(*limit);
}

std::string_view StateName(NotificationState state) {
  switch (state) {
    case NotificationState::kPending:
      return "pending";
    case NotificationState::kDelivered:
      return "delivered";
    case NotificationState::kGivenUp:
      return "given_up";
  }
  return "pending";
}

json::object NotificationToJson(const Notification& n) {
  return json::object{
      {"notification_id", n.notification_id},
      {"order_id", n.order_id},
      {"notify_url", n.notify_url},
      {"order_status", OrderStatusName(n.order_status)},
      {"state", StateName(n.state)},
      {"tries", n.tries},
      {"next_try_ms",
       n.state == NotificationState::kPending ? json::value(n.next_try_ms) : json::value(nullptr)},
      {"delivered_ms", n.delivered_ms == 0 ? json::value(nullptr) : json::value(n.delivered_ms)},
      {"created_ms", n.created_ms}};
}

}  // namespace

std::optional<http::HttpResponse> AccountRoutes::Merchant(const http::HttpRequest& request,
                                                          const std::string& merchant_id) {
  const std::vector<std::string_view> s = http::PathSegments(request.path);
  if (s.size() == 2 && s[1] == "balance") {
    if (request.method != "GET") return http::WrongMethodAnswer();
    Result<topup::Merchant> merchant = store_->GetMerchant(merchant_id);
    if (!merchant.ok()) return ErrorAnswer(merchant.status());
    Result<int64_t> held = store_->HeldFen(merchant_id);
    if (!held.ok()) return ErrorAnswer(held.status());
    return JsonAnswer(200, json::serialize(json::object{{"merchant_id", merchant_id},
                                                        {"balance_fen", merchant->balance_fen},
                                                        {"held_fen", *held}}));
  }
  if (s.size() == 2 && s[1] == "ledger") {
    if (request.method != "GET") return http::WrongMethodAnswer();
    Result<int64_t> cursor = IntParameter(request, "cursor", 0);
    if (!cursor.ok()) return ErrorAnswer(cursor.status());
    Result<size_t> limit = Limit(request);
    if (!limit.ok()) return ErrorAnswer(limit.status());
    Result<std::vector<LedgerEntry>> entries = store_->ListLedger(merchant_id, *cursor, *limit);
    if (!entries.ok()) return ErrorAnswer(entries.status());
    json::array list;
    for (const LedgerEntry& e : *entries) {
      list.push_back(json::object{
          {"entry_id", e.entry_id},
          {"order_id", e.order_id.empty() ? json::value(nullptr) : json::value(e.order_id)},
          {"kind", e.kind == LedgerKind::kFund    ? "fund"
                   : e.kind == LedgerKind::kDebit ? "debit"
                                                  : "refund"},
          {"amount_fen", e.amount_fen},
          {"balance_after_fen", e.balance_after_fen},
          {"created_ms", e.created_ms},
          {"note", e.note}});
    }
    json::value next = entries->size() < *limit
                           ? json::value(nullptr)
                           : json::value(std::to_string(entries->back().entry_id));
    return JsonAnswer(
        200, json::serialize(json::object{{"entries", std::move(list)}, {"next_cursor", next}}));
  }
  // GET /v1/orders without merchant_order_id lists; with it, MerchantApi finds the one order.
  if (s.size() == 2 && s[1] == "orders" && request.method == "GET" &&
      !request.query.contains("merchant_order_id")) {
    if (auto m = request.query.find("merchant_id");
        m != request.query.end() && m->second != merchant_id) {
      return ErrorAnswer(PermissionDenied("merchant_mismatch",
                                          "merchant_id is not the merchant of the request's key"));
    }
    return Orders(request, merchant_id);
  }
  if (s.size() == 5 && s[1] == "orders" && s[3] == "notifications" && s[4] == "resend") {
    if (request.method != "POST") return http::WrongMethodAnswer();
    Result<Order> order = store_->GetOrder(std::string(s[2]));
    // Another merchant's order is answered as an absent one.
    if (!order.ok() || order->merchant_id != merchant_id) {
      return ErrorAnswer(NotFound("order_not_found", "no such order"));
    }
    Result<std::vector<Notification>> found = store_->ListNotifications(order->order_id);
    if (!found.ok()) return ErrorAnswer(found.status());
    if (found->empty()) {
      return ErrorAnswer(
          NotFound("notification_not_found",
                   "the order has no notification: it has no notify_url or is open"));
    }
    return Resend(found->back().notification_id);
  }
  return std::nullopt;
}

std::optional<http::HttpResponse> AccountRoutes::Admin(const http::HttpRequest& request) {
  const std::vector<std::string_view> s = http::PathSegments(request.path);  // v1 admin ...
  if (s.size() == 3 && s[2] == "merchants" && request.method == "GET") {
    Result<size_t> limit = Limit(request);
    if (!limit.ok()) return ErrorAnswer(limit.status());
    auto cursor = request.query.find("cursor");
    Result<std::vector<topup::Merchant>> merchants =
        store_->ListMerchants(cursor == request.query.end() ? "" : cursor->second, *limit);
    if (!merchants.ok()) return ErrorAnswer(merchants.status());
    json::array list;
    for (const topup::Merchant& m : *merchants) list.push_back(json::parse(MerchantToJson(m)));
    json::value next = merchants->size() < *limit ? json::value(nullptr)
                                                  : json::value(merchants->back().merchant_id);
    return JsonAnswer(
        200, json::serialize(json::object{{"merchants", std::move(list)}, {"next_cursor", next}}));
  }
  if (s.size() == 3 && s[2] == "orders") {
    if (request.method != "GET") return http::WrongMethodAnswer();
    auto merchant = request.query.find("merchant_id");
    return Orders(request, merchant == request.query.end() ? "" : merchant->second);
  }
  if (s.size() == 5 && s[2] == "orders" && s[4] == "notifications") {
    if (request.method != "GET") return http::WrongMethodAnswer();
    return Notifications(std::string(s[3]));
  }
  if (s.size() == 5 && s[2] == "notifications" && s[4] == "resend") {
    if (request.method != "POST") return http::WrongMethodAnswer();
    int64_t id = 0;
    auto [stop, error] = std::from_chars(s[3].data(), s[3].data() + s[3].size(), id);
    if (error != std::errc() || stop != s[3].data() + s[3].size()) {
      return ErrorAnswer(NotFound("notification_not_found", "no such notification"));
    }
    return Resend(id);
  }
  return std::nullopt;
}

http::HttpResponse AccountRoutes::Orders(const http::HttpRequest& request,
                                         const std::string& merchant_id) {
  OrderFilter filter;
  filter.merchant_id = merchant_id;
  if (auto status = request.query.find("status");
      status != request.query.end() && !status->second.empty()) {
    std::optional<OrderStatus> parsed = ParseOrderStatus(status->second);
    if (!parsed) return ErrorAnswer(InvalidArgument("invalid_query", "unknown status"));
    filter.status = parsed;
  }
  Result<int64_t> from = IntParameter(request, "from", 0);
  if (!from.ok()) return ErrorAnswer(from.status());
  Result<int64_t> to = IntParameter(request, "to", 0);
  if (!to.ok()) return ErrorAnswer(to.status());
  Result<size_t> limit = Limit(request);
  if (!limit.ok()) return ErrorAnswer(limit.status());
  filter.created_from_ms = *from;
  filter.created_to_ms = *to;
  filter.limit = *limit;
  if (auto cursor = request.query.find("cursor"); cursor != request.query.end()) {
    filter.after_order_id = cursor->second;
  }
  Result<std::vector<Order>> orders = store_->FindOrders(filter);
  if (!orders.ok()) return ErrorAnswer(orders.status());
  json::array list;
  for (const Order& o : *orders) list.push_back(json::parse(OrderToJson(o)));
  json::value next =
      orders->size() < *limit ? json::value(nullptr) : json::value(orders->back().order_id);
  return JsonAnswer(
      200, json::serialize(json::object{{"orders", std::move(list)}, {"next_cursor", next}}));
}

http::HttpResponse AccountRoutes::Notifications(const std::string& order_id) {
  Result<Order> order = store_->GetOrder(order_id);
  if (!order.ok()) return ErrorAnswer(order.status());
  Result<std::vector<Notification>> found = store_->ListNotifications(order_id);
  if (!found.ok()) return ErrorAnswer(found.status());
  json::array list;
  for (const Notification& n : *found) {
    json::object item = NotificationToJson(n);
    Result<std::vector<NotificationTry>> tries = store_->ListNotificationTries(n.notification_id);
    if (!tries.ok()) return ErrorAnswer(tries.status());
    json::array attempts;
    for (const NotificationTry& t : *tries) {
      attempts.push_back(json::object{
          {"at_ms", t.at_ms},
          {"http_status", t.http_status == 0 ? json::value(nullptr) : json::value(t.http_status)},
          {"error", t.error.empty() ? json::value(nullptr) : json::value(t.error)},
          {"latency_ms", t.latency_ms}});
    }
    item["attempts"] = std::move(attempts);
    list.push_back(std::move(item));
  }
  return JsonAnswer(200, json::serialize(json::object{{"notifications", std::move(list)}}));
}

http::HttpResponse AccountRoutes::Resend(int64_t notification_id) {
  Result<Notification> resent = store_->ResendNotification(notification_id, clock_->NowMs());
  if (!resent.ok()) return ErrorAnswer(resent.status());
  return JsonAnswer(202, json::serialize(NotificationToJson(*resent)));
}

}  // namespace topup::api
