// The dashboard's sessions and pages: the cookie holds a random id, never the token; sessions
// expire, are bounded and end at logout; the admin routes take the cookie as they take the token.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>

#include "api/admin_gate.h"
#include "api/admin_sessions.h"
#include "api/ui_routes.h"
#include "http/http_client.h"
#include "http/http_server.h"
#include "topup/clock.h"

namespace topup::api {
namespace {

using std::chrono::milliseconds;

constexpr char kToken[] = "the-admin-token";

http::HttpRequest WithCookie(const std::string& cookie) {
  http::HttpRequest request;
  request.method = "GET";
  request.path = "/v1/admin/dashboard";
  request.headers["cookie"] = cookie;
  return request;
}

std::string HeaderOf(const http::HttpResponse& response, std::string_view name) {
  for (const auto& [key, value] : response.headers) {
    std::string lower = key;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == name) return value;
  }
  return "";
}

TEST(AdminSessionsTest, SessionsExpireEndAtCloseAndAreBounded) {
  FakeClock clock;
  AdminSessions sessions(&clock, AdminSessionsOptions{.lifetime_ms = 60'000, .max_sessions = 2});
  const std::string first = sessions.Open();
  EXPECT_EQ(first.size(), 64u);
  EXPECT_TRUE(sessions.Valid(first));
  EXPECT_FALSE(sessions.Valid(first.substr(0, 63)));
  EXPECT_FALSE(sessions.Valid(""));
  clock.AdvanceMs(1'000);
  const std::string second = sessions.Open();
  const std::string third = sessions.Open();  // the bound drops the one nearest its expiry
  EXPECT_NE(second, third);
  EXPECT_FALSE(sessions.Valid(first));
  EXPECT_TRUE(sessions.Valid(second));
  sessions.Close(second);
  EXPECT_FALSE(sessions.Valid(second));
  EXPECT_TRUE(sessions.Valid(third));
  clock.AdvanceMs(60'000);
  EXPECT_FALSE(sessions.Valid(third));
}

TEST(AdminSessionsTest, TheCookieIsHttpOnlyStrictAndFoundAmongOthers) {
  FakeClock clock;
  AdminSessions sessions(&clock);
  const std::string id = sessions.Open();
  const std::string cookie = sessions.CookieFor(id);
  EXPECT_TRUE(cookie.starts_with("topup_session=" + id + ";")) << cookie;
  for (const char* attribute : {"; HttpOnly", "; SameSite=Strict", "; Path=/", "; Max-Age="}) {
    EXPECT_NE(cookie.find(attribute), std::string::npos) << cookie;
  }
  EXPECT_EQ(AdminSessions::IdOf(WithCookie("a=b; topup_session=" + id + "; c=d")), id);
  EXPECT_EQ(AdminSessions::IdOf(WithCookie("topup_sessionx=1; b=2")), "");
  EXPECT_EQ(AdminSessions::IdOf(WithCookie("")), "");
  EXPECT_NE(AdminSessions::ExpiredCookie().find("Max-Age=0"), std::string::npos);
}

TEST(AdminSessionsTest, TheGateTakesTheTokenOrALiveSessionCookie) {
  FakeClock clock;
  AdminSessions sessions(&clock);
  const AdminGate gate(kToken, &sessions);
  const std::string id = sessions.Open();
  EXPECT_FALSE(gate.Refusal(WithCookie("topup_session=" + id)).has_value());
  EXPECT_TRUE(gate.Refusal(WithCookie("topup_session=" + std::string(64, '0'))).has_value());
  http::HttpRequest bearer = WithCookie("");
  bearer.headers["authorization"] = std::string("Bearer ") + kToken;
  EXPECT_FALSE(gate.Refusal(bearer).has_value());
  sessions.Close(id);
  EXPECT_EQ(gate.Refusal(WithCookie("topup_session=" + id))->status, 401);
  const AdminGate disabled("", &sessions);
  EXPECT_EQ(disabled.Refusal(WithCookie("topup_session=" + sessions.Open()))->status, 403);
}

class UiRoutesTest : public ::testing::Test {
 protected:
  void Serve(const std::string& token) {
    gate_.emplace(token, &sessions_);
    ui_.emplace(&*gate_, &sessions_);
    auto server = http::HttpServer::Listen(
        http::HttpServerOptions{}, [this](http::HttpRequest request, http::Responder respond) {
          ui_->Handle(std::move(request), std::move(respond));
        });
    ASSERT_TRUE(server.ok());
    server_ = std::move(*server);
    server_->Start();
    client_ = std::make_unique<http::HttpClient>("127.0.0.1", server_->port());
  }
  void TearDown() override {
    client_.reset();
    if (server_) server_->Stop();
  }
  http::HttpResponse Send(const std::string& method, const std::string& target,
                          const std::string& body = "", const std::string& cookie = "") {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!cookie.empty()) headers.emplace_back("Cookie", cookie);
    auto response = client_->Send(method, target, body, milliseconds(10'000), headers);
    EXPECT_TRUE(response.ok()) << response.status().ToString();
    return response.ok() ? *response : http::HttpResponse{};
  }

  FakeClock clock_;
  AdminSessions sessions_{&clock_};
  std::optional<AdminGate> gate_;
  std::optional<UiRoutes> ui_;
  std::unique_ptr<http::HttpServer> server_;
  std::unique_ptr<http::HttpClient> client_;
};

TEST_F(UiRoutesTest, LoginSetsASessionCookieLogoutEndsIt) {
  Serve(kToken);
  http::HttpResponse page = Send("GET", "/ui");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("id=\"login-form\""), std::string::npos);

  http::HttpResponse refused = Send("POST", "/ui/login", "token=wrong");
  EXPECT_EQ(refused.status, 303);
  EXPECT_EQ(HeaderOf(refused, "location"), "/ui?login=failed");
  EXPECT_EQ(HeaderOf(refused, "set-cookie"), "");

  // The token as a browser's form sends it: percent-encoded where it must be.
  http::HttpResponse login = Send("POST", "/ui/login", "token=the%2Dadmin-token");
  EXPECT_EQ(login.status, 303);
  EXPECT_EQ(HeaderOf(login, "location"), "/ui");
  const std::string cookie = HeaderOf(login, "set-cookie");
  EXPECT_EQ(cookie.find(kToken), std::string::npos) << cookie;
  const std::string pair = cookie.substr(0, cookie.find(';'));
  EXPECT_TRUE(sessions_.Valid(pair.substr(pair.find('=') + 1)));

  http::HttpResponse dashboard = Send("GET", "/ui", "", pair);
  EXPECT_NE(dashboard.body.find("id=\"count-success\""), std::string::npos);
  EXPECT_NE(HeaderOf(dashboard, "content-security-policy").find("default-src 'self'"),
            std::string::npos);

  http::HttpResponse logout = Send("POST", "/ui/logout", "", pair);
  EXPECT_EQ(logout.status, 303);
  EXPECT_NE(HeaderOf(logout, "set-cookie").find("Max-Age=0"), std::string::npos);
  EXPECT_FALSE(sessions_.Valid(pair.substr(pair.find('=') + 1)));
  EXPECT_NE(Send("GET", "/ui", "", pair).body.find("id=\"login-form\""), std::string::npos);
}

TEST_F(UiRoutesTest, StaticFilesAreBuiltInAndNothingElseIsServed) {
  Serve(kToken);
  http::HttpResponse chart = Send("GET", "/ui/static/chart.js");
  EXPECT_EQ(chart.status, 200);
  EXPECT_EQ(chart.content_type, "application/javascript; charset=utf-8");
  EXPECT_GT(chart.body.size(), 100'000u);  // Debian's Chart.js, whole
  EXPECT_EQ(Send("GET", "/ui/static/app.js").status, 200);
  EXPECT_EQ(Send("GET", "/ui/static/style.css").status, 200);
  EXPECT_EQ(Send("GET", "/ui/static/login.html").status, 404);
  EXPECT_EQ(Send("GET", "/ui/static/..%2fsecret").status, 404);
  EXPECT_EQ(Send("GET", "/ui/other").status, 404);
  EXPECT_EQ(Send("GET", "/ui/login").status, 405);
}

TEST_F(UiRoutesTest, WithoutAnAdminTokenTheDashboardIsDisabled) {
  Serve("");
  EXPECT_EQ(Send("GET", "/ui").status, 403);
  http::HttpResponse login = Send("POST", "/ui/login", "token=");
  EXPECT_EQ(login.status, 403);
  EXPECT_EQ(HeaderOf(login, "set-cookie"), "");
}

}  // namespace
}  // namespace topup::api
