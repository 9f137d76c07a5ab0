// UiRoutes: the operator dashboard's pages, built into the binary (api/ui_files.h):
//
//   GET  /ui                the dashboard with a valid session cookie, else the login form
//   POST /ui/login          form field token=<admin token>: a session cookie (HttpOnly,
//                           SameSite=Strict, Path=/) and 303 to /ui; a wrong token 303s to
//                           /ui?login=failed and sets nothing
//   POST /ui/logout         ends the session, deletes the cookie, 303 to /ui
//   GET  /ui/static/{file}  app.js, style.css, chart.js (Debian's Chart.js)
//
// The pages read their figures from /v1/admin/... (api/dashboard_routes.h) with the cookie.
// Without an admin token the dashboard answers 403 admin_disabled.
#pragma once

#include "api/admin_gate.h"
#include "api/admin_sessions.h"
#include "http/http_server.h"

namespace topup::api {

class UiRoutes {
 public:
  // The pointers must outlive this.
  UiRoutes(const AdminGate* gate, AdminSessions* sessions) : gate_(gate), sessions_(sessions) {}

  // An HttpHandler for /ui...: answers at once, from memory.
  void Handle(http::HttpRequest request, http::Responder respond);

 private:
  const AdminGate* const gate_;
  AdminSessions* const sessions_;
};

}  // namespace topup::api
