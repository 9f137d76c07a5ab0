#include "engine/supplier_callback_route.h"

#include <boost/json.hpp>

#include "http/json_answer.h"

namespace topup {

SupplierCallbackRoute::SupplierCallbackRoute(SupplierCallbacks* callbacks,
                                             SupplierCallbackRouteOptions options)
    : callbacks_(callbacks) {
  pool_.emplace(options.threads, options.queue_max);
}

SupplierCallbackRoute::~SupplierCallbackRoute() { pool_.reset(); }

void SupplierCallbackRoute::Handle(http::HttpRequest request, http::Responder respond) {
  const std::vector<std::string_view> segments = http::PathSegments(request.path);
  if (segments.size() != 3 || segments[0] != "v1" || segments[1] != "supplier-callbacks") {
    return respond(http::NoRouteAnswer());
  }
  if (request.method != "POST") return respond(http::WrongMethodAnswer());
  auto shared = std::make_shared<http::HttpRequest>(std::move(request));
  const bool posted = pool_->Post([this, shared, respond] {
    const std::string channel(http::PathSegments(shared->path)[2]);
    Result<std::string> handled =
        callbacks_->Handle(channel, shared->body, shared->Header("x-signature"));
    if (!handled.ok()) return respond(http::ErrorAnswer(handled.status()));
    respond(
        http::JsonAnswer(200, boost::json::serialize(boost::json::object{{"result", *handled}})));
  });
  if (!posted) {
    respond(http::ErrorAnswer(Status(StatusCode::kResourceExhausted, "overloaded",
                                     "too many callbacks waiting; send this one again later")));
  }
}

}  // namespace topup
