// The admin route of the log level, changed at run time (as SIGUSR1 does, but to a chosen one):
//
//   GET /v1/admin/log-level    {"level": "info"}
//   PUT /v1/admin/log-level    {"level": "debug"} -> 200 {"level": "debug"}; 400 invalid_log_level
#pragma once

#include "http/http_message.h"

namespace topup::api {

// REQUIRES: the admin token was checked; the path is /v1/admin/log-level.
http::HttpResponse LogLevelAnswer(const http::HttpRequest& request);

}  // namespace topup::api
