#include "api/dashboard_routes.h"

#include <boost/json.hpp>

#include <algorithm>
#include <map>
#include <set>

#include "api/order_json.h"
#include "http/json_answer.h"

namespace topup::api {
namespace {

namespace json = boost::json;
using http::ErrorAnswer;
using http::JsonAnswer;

constexpr size_t kNearestDeadlineRows = 10;
constexpr size_t kMaxSearchResults = 50;
constexpr int64_t kPhoneSearchWindowMs = 24 * 3'600'000;
constexpr size_t kPhoneSearchPageRows = 1'000;
constexpr size_t kPhoneSearchMaxPages = 50;  // at most 50,000 orders read for one search
constexpr size_t kMaxMerchantsSearched = 1'000;

std::string_view Label(const observe::Sample& sample, std::string_view name) {
  for (const auto& [key, value] : sample.labels) {
    if (key == name) return value;
  }
  return {};
}

// Sums the samples of `name` by their `channel` label, counting only those whose labels also
// hold `with` (name, value), when given.
std::map<std::string, double> ByChannel(const observe::Metrics& metrics, std::string_view name,
                                        std::pair<std::string_view, std::string_view> with = {}) {
  std::map<std::string, double> sums;
  for (const observe::Sample& sample : metrics.Read(name)) {
    if (!with.first.empty() && Label(sample, with.first) != with.second) continue;
    sums[std::string(Label(sample, "channel"))] += sample.value;
  }
  return sums;
}

json::value OrderValue(const Order& order) { return json::parse(OrderToJson(order)); }

json::object CountsToJson(const OrderCounts& counts) {
  json::object object;
  for (OrderStatus status : {OrderStatus::kAccepted, OrderStatus::kCharging, OrderStatus::kUnknown,
                             OrderStatus::kSuccess, OrderStatus::kFailed}) {
    auto it = counts.find(status);
    object[OrderStatusName(status)] = it == counts.end() ? 0 : it->second;
  }
  return object;
}

int64_t Count(const NotificationCounts& counts, NotificationState state) {
  auto it = counts.find(state);
  return it == counts.end() ? 0 : it->second;
}

int64_t Finished(const OrderCounts& counts) {
  int64_t total = 0;
  for (const auto& [status, count] : counts) total += IsFinal(status) ? count : 0;
  return total;
}

int64_t Total(const OrderCounts& counts) {
  int64_t total = 0;
  for (const auto& [status, count] : counts) total += count;
  return total;
}

// Rates between consecutive samples.
json::array Series(const std::vector<observe::DashboardSample>& window) {
  json::array series;
  for (size_t i = 1; i < window.size(); ++i) {
    const observe::DashboardSample& a = window[i - 1];
    const observe::DashboardSample& b = window[i];
    const double seconds = static_cast<double>(b.at_ms - a.at_ms) / 1000.0;
    if (seconds <= 0) continue;
    const int64_t finished_here = b.finished - a.finished;
    series.push_back(json::object{
        {"at_ms", b.at_ms},
        {"accepted_per_s", static_cast<double>(Total(b.orders) - Total(a.orders)) / seconds},
        {"finished_per_s", static_cast<double>(Finished(b.orders) - Finished(a.orders)) / seconds},
        {"latency_mean_s", finished_here > 0
                               ? json::value((b.final_latency_sum_s - a.final_latency_sum_s) /
                                             static_cast<double>(finished_here))
                               : json::value(nullptr)}});
  }
  return series;
}

json::array Channels(const observe::Metrics& metrics) {
  static constexpr const char* kBreakerStates[] = {"closed", "open", "half_open"};
  const auto in_flight = ByChannel(metrics, "topup_channel_attempts_in_flight");
  const auto limit = ByChannel(metrics, "topup_channel_attempt_limit");
  const auto succeeded = ByChannel(metrics, "topup_orders_finished_total", {"outcome", "success"});
  const auto failed = ByChannel(metrics, "topup_orders_finished_total", {"outcome", "failed"});
  const auto latency_sum =
      ByChannel(metrics, "topup_supplier_call_latency_seconds_sum", {"call", "submit"});
  const auto latency_count =
      ByChannel(metrics, "topup_supplier_call_latency_seconds_count", {"call", "submit"});
  auto at = [](const std::map<std::string, double>& map, const std::string& key) {
    auto it = map.find(key);
    return it == map.end() ? 0.0 : it->second;
  };
  json::array channels;
  for (const observe::Sample& breaker : metrics.Read("topup_channel_breaker_state")) {
    const std::string name(Label(breaker, "channel"));
    const auto state = static_cast<size_t>(std::clamp(breaker.value, 0.0, 2.0));
    const double finished = at(succeeded, name) + at(failed, name);
    const double submits = at(latency_count, name);
    channels.push_back(json::object{
        {"channel", name},
        {"breaker", kBreakerStates[state]},
        {"attempts_in_flight", static_cast<int64_t>(at(in_flight, name))},
        {"attempt_limit", static_cast<int64_t>(at(limit, name))},
        {"orders_succeeded", static_cast<int64_t>(at(succeeded, name))},
        {"orders_failed", static_cast<int64_t>(at(failed, name))},
        {"success_rate",
         finished > 0 ? json::value(at(succeeded, name) / finished) : json::value(nullptr)},
        {"submit_latency_mean_s",
         submits > 0 ? json::value(at(latency_sum, name) / submits) : json::value(nullptr)}});
  }
  return channels;
}

}  // namespace

std::optional<http::HttpResponse> DashboardRoutes::Answer(const http::HttpRequest& request) const {
  const std::vector<std::string_view> s = http::PathSegments(request.path);  // v1 admin ...
  const bool dashboard = s.size() == 3 && s[2] == "dashboard";
  const bool search = s.size() == 3 && s[2] == "search";
  const bool order = s.size() == 4 && s[2] == "orders";
  if (!dashboard && !search && !order) return std::nullopt;
  if (request.method != "GET") return http::WrongMethodAnswer();
  if (dashboard) return Dashboard();
  if (search) return Search(request);
  return OrderHistory(std::string(s[3]));
}

http::HttpResponse DashboardRoutes::Dashboard() const {
  const std::vector<observe::DashboardSample> window = sampler_->Window();
  json::object answer{{"now_ms", clock_->NowMs()}, {"interval_ms", sampler_->interval_ms()}};
  if (window.empty()) {
    answer["sampled_ms"] = nullptr;
    answer["orders"] = CountsToJson({});
    answer["notifications"] = json::object{{"pending", 0}, {"delivered", 0}, {"given_up", 0}};
  } else {
    const observe::DashboardSample& last = window.back();
    answer["sampled_ms"] = last.at_ms;
    answer["orders"] = CountsToJson(last.orders);
    answer["notifications"] =
        json::object{{"pending", Count(last.notifications, NotificationState::kPending)},
                     {"delivered", Count(last.notifications, NotificationState::kDelivered)},
                     {"given_up", Count(last.notifications, NotificationState::kGivenUp)}};
  }
  answer["series"] = Series(window);
  answer["channels"] = Channels(*metrics_);
  // Ids start with their creation time and every order has the same deadline after creation, so
  // the first open orders of each state by id are the nearest their deadline.
  std::vector<Order> nearest;
  for (OrderStatus status :
       {OrderStatus::kAccepted, OrderStatus::kCharging, OrderStatus::kUnknown}) {
    OrderFilter filter;
    filter.status = status;
    filter.limit = kNearestDeadlineRows;
    Result<std::vector<Order>> orders = store_->FindOrders(filter);
    if (!orders.ok()) return ErrorAnswer(orders.status());
    nearest.insert(nearest.end(), orders->begin(), orders->end());
  }
  std::sort(nearest.begin(), nearest.end(),
            [](const Order& a, const Order& b) { return a.deadline_ms < b.deadline_ms; });
  if (nearest.size() > kNearestDeadlineRows) nearest.resize(kNearestDeadlineRows);
  json::array rows;
  for (const Order& o : nearest) rows.push_back(OrderValue(o));
  answer["nearest_deadline"] = std::move(rows);
  return JsonAnswer(200, json::serialize(answer));
}

http::HttpResponse DashboardRoutes::Search(const http::HttpRequest& request) const {
  auto q = request.query.find("q");
  if (q == request.query.end() || q->second.empty() || q->second.size() > 64) {
    return ErrorAnswer(InvalidArgument("missing_field", "query needs q (1-64 characters)"));
  }
  const std::string& text = q->second;
  std::vector<Order> found;
  std::set<std::string> seen;
  auto add = [&](const Order& order) {
    if (found.size() < kMaxSearchResults && seen.insert(order.order_id).second) {
      found.push_back(order);
    }
  };
  // Text that cannot be an order id is simply not found; a store that cannot answer is told.
  if (Result<Order> order = store_->GetOrder(text); order.ok()) {
    add(*order);
  } else if (order.status().code() == StatusCode::kUnavailable) {
    return ErrorAnswer(order.status());
  }
  Result<std::vector<Merchant>> merchants = store_->ListMerchants("", kMaxMerchantsSearched);
  if (!merchants.ok()) return ErrorAnswer(merchants.status());
  for (const Merchant& merchant : *merchants) {
    Result<Order> order = store_->FindOrderByMerchantOrderId(merchant.merchant_id, text);
    if (order.ok()) add(*order);
  }
  const bool phone = text.size() == 11 && std::all_of(text.begin(), text.end(),
                                                      [](char c) { return c >= '0' && c <= '9'; });
  if (phone) {
    OrderFilter filter;
    filter.created_from_ms = clock_->NowMs() - kPhoneSearchWindowMs;
    filter.limit = kPhoneSearchPageRows;
    for (size_t page = 0; page < kPhoneSearchMaxPages && found.size() < kMaxSearchResults; ++page) {
      Result<std::vector<Order>> orders = store_->FindOrders(filter);
      if (!orders.ok()) return ErrorAnswer(orders.status());
      for (const Order& order : *orders) {
        if (order.phone == text) add(order);
      }
      if (orders->size() < filter.limit) break;
      filter.after_order_id = orders->back().order_id;
    }
  }
  json::array rows;
  for (const Order& order : found) rows.push_back(OrderValue(order));
  return JsonAnswer(200, json::serialize(json::object{{"orders", std::move(rows)}}));
}

http::HttpResponse DashboardRoutes::OrderHistory(const std::string& order_id) const {
  Result<Order> order = store_->GetOrder(order_id);
  if (!order.ok()) return ErrorAnswer(order.status());
  Result<std::vector<OrderEvent>> events = store_->ListEvents(order_id);
  if (!events.ok()) return ErrorAnswer(events.status());
  return JsonAnswer(200, json::serialize(json::object{
                             {"order", OrderValue(*order)},
                             {"events", json::parse(EventsToJson(*events)).at("events")}}));
}

}  // namespace topup::api
