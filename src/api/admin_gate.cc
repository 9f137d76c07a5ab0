#include "api/admin_gate.h"

#include "auth/constant_time.h"
#include "http/json_answer.h"

namespace topup::api {

bool AdminGate::IsAdminToken(std::string_view presented) const {
  return enabled() && auth::SecretsEqual(presented, admin_token_);
}

std::optional<http::HttpResponse> AdminGate::Refusal(const http::HttpRequest& request) const {
  if (!enabled()) {
    return http::JsonAnswer(
        403, http::ErrorToJson(Status(StatusCode::kUnauthenticated, "admin_disabled",
                                      "the server was started without an admin token")));
  }
  std::string_view authorization = request.Header("authorization");
  constexpr std::string_view kBearer = "Bearer ";
  // Compared whatever the lengths: a missing prefix compares the empty string.
  const std::string_view presented =
      authorization.starts_with(kBearer) ? authorization.substr(kBearer.size()) : "";
  if (IsAdminToken(presented)) return std::nullopt;
  return http::ErrorAnswer(
      Status(StatusCode::kUnauthenticated, "bad_admin_token",
             "admin endpoints need the header Authorization: Bearer <admin token>"));
}

}  // namespace topup::api
