// SupplierCallbackRoute: the HTTP face of SupplierCallbacks.
//
//   POST /v1/supplier-callbacks/{channel}   -> 200 {"result": "applied" | "already_final" | ...}
//
// Errors are JSON {"code", "message"}: those of SupplierCallbacks::Handle, 404 no_such_route,
// 405 method_not_allowed, 503 overloaded.
#pragma once

#include <optional>

#include "core/work_pool.h"
#include "engine/supplier_callbacks.h"
#include "http/http_server.h"

namespace topup {

struct SupplierCallbackRouteOptions {
  // A callback blocks on the store, so it runs on one of these threads.
  size_t threads = 4;
  size_t queue_max = 10'000;  // beyond this many waiting callbacks, answer 503 overloaded
};

class SupplierCallbackRoute {
 public:
  // `callbacks` must outlive this.
  SupplierCallbackRoute(SupplierCallbacks* callbacks, SupplierCallbackRouteOptions options = {});
  // Applies the callbacks already taken.
  ~SupplierCallbackRoute();

  // An HttpHandler for /v1/supplier-callbacks/...: never blocks the calling I/O thread.
  void Handle(http::HttpRequest request, http::Responder respond);

 private:
  SupplierCallbacks* const callbacks_;
  std::optional<WorkPool> pool_;  // reset first by the destructor
};

}  // namespace topup
