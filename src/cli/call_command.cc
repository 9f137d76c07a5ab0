// topup call: one signed request to a topup server, its answer printed, so an operator can use
// the merchant API from a shell.
#include <iostream>

#include "auth/request_signature.h"
#include "cli/commands.h"
#include "core/url.h"
#include "http/http_client.h"
#include "topup/clock.h"

namespace topup::cli {
namespace {

struct CallFlags {
  std::string key_id;
  std::string secret;
  std::string admin_token;
  std::string method;
  std::string url;
  std::string body;
  int64_t timeout_ms = 30'000;
};

int RunCall(const CallFlags& flags) {
  Result<Url> url = ParseUrl(flags.url);
  if (!url.ok() || url->scheme != "http") {
    std::cerr << "topup call: the URL must look like http://host:port/path?query\n";
    return 2;
  }
  std::vector<std::pair<std::string, std::string>> headers;
  if (!flags.admin_token.empty()) {
    headers.emplace_back("Authorization", "Bearer " + flags.admin_token);
  } else if (!flags.key_id.empty() && !flags.secret.empty()) {
    headers = auth::SignatureHeaders(flags.key_id, flags.secret, flags.method, url->target,
                                     flags.body, SystemClock()->NowMs() / 1000, auth::NewNonce());
  } else {
    std::cerr << "topup call: give --key-id and --secret (or TOPUP_KEY_ID and TOPUP_SECRET), or "
                 "--admin-token for admin routes\n";
    return 2;
  }
  http::HttpClient client(url->host, url->port);
  Result<http::HttpResponse> response = client.Send(
      flags.method, url->target, flags.body, std::chrono::milliseconds(flags.timeout_ms), headers);
  if (!response.ok()) {
    std::cerr << "topup call: " << response.status().ToString() << "\n";
    return 1;
  }
  std::cerr << "HTTP " << response->status << "\n";
  std::cout << response->body << "\n";
  return response->status < 400 ? 0 : 1;
}

}  // namespace

void AddCallCommand(CLI::App& app) {
  auto flags = std::make_shared<CallFlags>();
  CLI::App* call = app.add_subcommand(
      "call", "Send one signed request (METHOD URL [BODY]); prints the status and the answer");
  call->add_option("--key-id", flags->key_id, "Merchant key id")->envname("TOPUP_KEY_ID");
  call->add_option("--secret", flags->secret, "Merchant key secret")->envname("TOPUP_SECRET");
  call->add_option("--admin-token", flags->admin_token,
                   "Send this admin bearer token instead of a signature");
  call->add_option("--timeout-ms", flags->timeout_ms, "Time bound of the exchange")
      ->check(CLI::Range(1, 600'000))
      ->capture_default_str();
  call->add_option("method", flags->method, "GET, POST, DELETE, ...")->required();
  call->add_option("url", flags->url, "http://host:port/path?query")->required();
  call->add_option("body", flags->body, "Request body (JSON)");
  call->callback([flags] {
    if (int code = RunCall(*flags); code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace topup::cli
