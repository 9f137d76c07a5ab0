#include "cli/serve_routes.h"

#include "http/json_answer.h"

namespace topup::cli {

http::Router ServeRoutes(const ServeHandlers& handlers) {
  http::Router router;
  auto ops = [ops = handlers.ops](http::HttpRequest request, http::Responder respond) {
    std::optional<http::HttpResponse> answer = ops->Answer(request);
    respond(answer ? std::move(*answer) : http::NoRouteAnswer());
  };
  for (const char* path : {"/metrics", "/healthz", "/readyz"}) router.Add(path, ops);
  router.Add("/v1/admin",
             [admin = handlers.admin](http::HttpRequest request, http::Responder respond) {
               admin->Handle(std::move(request), std::move(respond));
             });
  router.Add("/v1/supplier-callbacks",
             [callbacks = handlers.callbacks](http::HttpRequest request, http::Responder respond) {
               callbacks->Handle(std::move(request), std::move(respond));
             });
  auto merchant = [merchant = handlers.merchant](http::HttpRequest request,
                                                 http::Responder respond) {
    merchant->Handle(std::move(request), std::move(respond));
  };
  for (const char* path : {"/v1/orders", "/v1/balance", "/v1/ledger"}) router.Add(path, merchant);
  return router;
}

}  // namespace topup::cli
