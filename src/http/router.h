// Router: hands each request to the handler registered for the first path prefix it falls
// under, compared segment by segment ("/v1/admin" takes "/v1/admin" and "/v1/admin/x", not
// "/v1/administer"). A path under no prefix is answered 404 no_such_route.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "http/http_server.h"

namespace topup::http {

class Router {
 public:
  // Prefixes are tried in the order they were added. REQUIRES: not called while Handle runs.
  void Add(std::string_view prefix, HttpHandler handler);

  // An HttpHandler: as non-blocking as the handler it picks.
  void Handle(HttpRequest request, Responder respond) const;

 private:
  struct Route {
    std::vector<std::string> segments;
    HttpHandler handler;
  };
  std::vector<Route> routes_;
};

}  // namespace topup::http
