// JSON answers shared by every handler: a body with a status, and errors as {"code", "message"}.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "http/http_message.h"
#include "topup/status.h"

namespace topup::http {

HttpResponse JsonAnswer(int status, std::string body);
// {"code": status.reason() ("internal" when it has none), "message": status.message()}, with
// the HTTP status of the Status's code. REQUIRES: !status.ok().
HttpResponse ErrorAnswer(const Status& status);
// 404 no_such_route and 405 method_not_allowed. Neither repeats the method or the path: what a
// client sent is never echoed.
HttpResponse NoRouteAnswer();
HttpResponse WrongMethodAnswer();

// {"code", "message"} of a Status, and the HTTP status for a non-OK one.
std::string ErrorToJson(const Status& status);
int HttpStatusOf(const Status& status);

// "/a/b//c" -> {"a", "b", "c"}: views into `path`.
std::vector<std::string_view> PathSegments(std::string_view path);

}  // namespace topup::http
