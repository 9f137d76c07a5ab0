// AdminApi: the operator's HTTP API, behind the admin token (api/admin_gate.h):
//
//   POST /v1/admin/merchants              {"merchant_id", "name"}
//   POST /v1/admin/merchants/{id}/fund    {"amount_fen", "note"?}
//   GET  /v1/admin/merchants/{id}
//   GET  /v1/admin/audit                  the ledger audit
//   the key routes of api/merchant_key_routes.h, the log level of api/log_level_route.h, and the
//   admin routes of api/account_routes.h (merchant and order lists, notifications, resend)
//
// Errors are JSON {"code", "message"} with a 4xx/5xx status.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "api/account_routes.h"
#include "api/admin_gate.h"
#include "api/merchant_key_routes.h"
#include "auth/secret_box.h"
#include "core/work_pool.h"
#include "http/http_server.h"
#include "topup/clock.h"
#include "topup/store.h"

namespace topup::api {

struct AdminApiOptions {
  std::string admin_token;  // empty: every admin route answers 403 admin_disabled
  // Admin calls block on the store, so they run on these threads.
  size_t store_threads = 2;
  size_t store_queue_max = 1'000;  // beyond this many waiting calls, answer 503 overloaded
  // Told the id of each key revoked, so that the merchant API stops taking it at once.
  std::function<void(const std::string& key_id)> key_revoked = [](const std::string&) {};
};

class AdminApi {
 public:
  // The pointers must outlive the AdminApi. New keys' secrets are sealed with `secret_box`.
  AdminApi(Store* store, Clock* clock, const auth::SecretBox* secret_box, AdminApiOptions options);
  // Runs the calls already posted.
  ~AdminApi();

  // An HttpHandler for /v1/admin/...: never blocks the calling I/O thread.
  void Handle(http::HttpRequest request, http::Responder respond);

 private:
  // Run on a store thread. REQUIRES: the gate let the request pass.
  http::HttpResponse Route(const http::HttpRequest& request);
  http::HttpResponse Merchants(const http::HttpRequest& request);

  Store* const store_;
  Clock* const clock_;
  const AdminGate gate_;
  AccountRoutes account_;
  MerchantKeyRoutes keys_;
  // Reset first by the destructor, while what its tasks use is still there.
  std::optional<WorkPool> store_pool_;
};

}  // namespace topup::api
