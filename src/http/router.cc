#include "http/router.h"

#include "http/json_answer.h"

namespace topup::http {

void Router::Add(std::string_view prefix, HttpHandler handler) {
  Route route;
  for (std::string_view segment : PathSegments(prefix)) route.segments.emplace_back(segment);
  route.handler = std::move(handler);
  routes_.push_back(std::move(route));
}

void Router::Handle(HttpRequest request, Responder respond) const {
  const std::vector<std::string_view> segments = PathSegments(request.path);
  for (const Route& route : routes_) {
    if (route.segments.size() > segments.size()) continue;
    bool under = true;
    for (size_t i = 0; i < route.segments.size() && under; ++i) {
      under = route.segments[i] == segments[i];
    }
    if (under) return route.handler(std::move(request), std::move(respond));
  }
  respond(NoRouteAnswer());
}

}  // namespace topup::http
