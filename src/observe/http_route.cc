#include "observe/http_route.h"

#include <array>
#include <vector>

namespace topup::observe {
namespace {

struct Route {
  std::string_view label;
  std::vector<std::string_view> segments;  // "*" matches any one segment
};

const std::vector<Route>& Routes() {
  static const std::vector<Route> routes = {
      {"/v1/orders", {"v1", "orders"}},
      {"/v1/orders/{order_id}", {"v1", "orders", "*"}},
      {"/v1/orders/{order_id}/events", {"v1", "orders", "*", "events"}},
      {"/v1/supplier-callbacks/{channel}", {"v1", "supplier-callbacks", "*"}},
      {"/v1/admin/merchants", {"v1", "admin", "merchants"}},
      {"/v1/admin/merchants/{merchant_id}", {"v1", "admin", "merchants", "*"}},
      {"/v1/admin/merchants/{merchant_id}/fund", {"v1", "admin", "merchants", "*", "fund"}},
      {"/v1/admin/merchants/{merchant_id}/keys", {"v1", "admin", "merchants", "*", "keys"}},
      {"/v1/admin/merchants/{merchant_id}/keys/{key_id}",
       {"v1", "admin", "merchants", "*", "keys", "*"}},
      {"/v1/admin/audit", {"v1", "admin", "audit"}},
      {"/v1/admin/log-level", {"v1", "admin", "log-level"}},
      {"/v1/admin/dashboard", {"v1", "admin", "dashboard"}},
      {"/v1/admin/search", {"v1", "admin", "search"}},
      {"/v1/admin/orders/{order_id}", {"v1", "admin", "orders", "*"}},
      {"/ui", {"ui"}},
      {"/ui/login", {"ui", "login"}},
      {"/ui/logout", {"ui", "logout"}},
      {"/ui/static/{file}", {"ui", "static", "*"}},
      {"/healthz", {"healthz"}},
      {"/readyz", {"readyz"}},
      {"/metrics", {"metrics"}},
  };
  return routes;
}

}  // namespace

std::string_view HttpRouteLabel(std::string_view path) {
  constexpr size_t kMaxSegments = 8;
  std::array<std::string_view, kMaxSegments> segments;
  size_t count = 0;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    if (count == kMaxSegments) return "other";
    const size_t slash = path.find('/');
    segments[count++] = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  for (const Route& route : Routes()) {
    if (route.segments.size() != count) continue;
    bool match = true;
    for (size_t i = 0; i < count && match; ++i) {
      match = route.segments[i] == "*" || route.segments[i] == segments[i];
    }
    if (match) return route.label;
  }
  return "other";
}

}  // namespace topup::observe
