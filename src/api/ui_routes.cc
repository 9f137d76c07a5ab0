#include "api/ui_routes.h"

#include "api/ui_files.h"
#include "http/json_answer.h"

namespace topup::api {
namespace {

http::HttpResponse File(const UiFile& file) {
  http::HttpResponse response;
  response.status = 200;
  response.content_type = std::string(file.content_type) + "; charset=utf-8";
  response.body = std::string(file.bytes);
  response.headers.emplace_back("Cache-Control", "no-store");
  // Everything the pages load is served from here: no request leaves for anywhere else.
  response.headers.emplace_back("Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return response;
}

http::HttpResponse SeeOther(std::string location) {
  http::HttpResponse response;
  response.status = 303;
  response.headers.emplace_back("Location", std::move(location));
  return response;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The value of `name` in an application/x-www-form-urlencoded body; empty if absent or
// malformed.
std::string FormField(std::string_view body, std::string_view name) {
  while (!body.empty()) {
    const size_t end = std::min(body.find('&'), body.size());
    std::string_view pair = body.substr(0, end);
    body.remove_prefix(std::min(end + 1, body.size()));
    if (!pair.starts_with(name) || pair.size() <= name.size() || pair[name.size()] != '=') continue;
    std::string value;
    for (size_t i = name.size() + 1; i < pair.size(); ++i) {
      if (pair[i] == '+') {
        value.push_back(' ');
      } else if (pair[i] == '%' && i + 2 < pair.size() && HexValue(pair[i + 1]) >= 0 &&
                 HexValue(pair[i + 2]) >= 0) {
        value.push_back(static_cast<char>(HexValue(pair[i + 1]) * 16 + HexValue(pair[i + 2])));
        i += 2;
      } else if (pair[i] == '%') {
        return "";
      } else {
        value.push_back(pair[i]);
      }
    }
    return value;
  }
  return "";
}

}  // namespace

void UiRoutes::Handle(http::HttpRequest request, http::Responder respond) {
  if (!gate_->enabled()) {
    return respond(http::JsonAnswer(
        403, http::ErrorToJson(Status(StatusCode::kUnauthenticated, "admin_disabled",
                                      "the server was started without an admin token"))));
  }
  const std::vector<std::string_view> s = http::PathSegments(request.path);  // ui ...
  if (s.size() == 1) {
    if (request.method != "GET") return respond(http::WrongMethodAnswer());
    const bool signed_in = sessions_->Valid(AdminSessions::IdOf(request));
    return respond(File(*FindUiFile(signed_in ? "dashboard.html" : "login.html")));
  }
  if (s.size() == 2 && (s[1] == "login" || s[1] == "logout")) {
    if (request.method != "POST") return respond(http::WrongMethodAnswer());
    if (s[1] == "logout") {
      sessions_->Close(AdminSessions::IdOf(request));
      http::HttpResponse response = SeeOther("/ui");
      response.headers.emplace_back("Set-Cookie", AdminSessions::ExpiredCookie());
      return respond(std::move(response));
    }
    if (!gate_->IsAdminToken(FormField(request.body, "token"))) {
      return respond(SeeOther("/ui?login=failed"));
    }
    http::HttpResponse response = SeeOther("/ui");
    response.headers.emplace_back("Set-Cookie", sessions_->CookieFor(sessions_->Open()));
    return respond(std::move(response));
  }
  if (s.size() == 3 && s[1] == "static") {
    if (request.method != "GET") return respond(http::WrongMethodAnswer());
    const UiFile* file = FindUiFile(s[2]);
    if (file != nullptr && !s[2].ends_with(".html")) return respond(File(*file));
  }
  respond(http::NoRouteAnswer());
}

}  // namespace topup::api
