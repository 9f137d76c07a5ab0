// What signing costs per order: the client's signature, and the server's check of it on the
// order path (a cached key: SHA-256 of the body, HMAC-SHA256, constant-time compare, nonce cache).
//
//   build/signature_bench [requests]
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "auth/merchant_keys.h"
#include "auth/request_authenticator.h"
#include "auth/request_signature.h"
#include "store/sqlite/sqlite_store.h"

int main(int argc, char** argv) {
  using namespace topup;
  using SteadyClock = std::chrono::steady_clock;
  const int requests = argc > 1 ? std::atoi(argv[1]) : 200'000;
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("topup-signature-bench-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  int exit_code = 0;
  {
    Result<std::unique_ptr<Store>> store =
        OpenSqliteStore(SqliteStoreOptions{.path = (dir / "bench.db").string()});
    if (!store.ok() || !(*store)->CreateMerchant("m1", "bench", SystemClock()->NowMs()).ok()) {
      std::cerr << "cannot set up the store\n";
      return 1;
    }
    auth::SecretBox box = auth::SecretBox::Ephemeral();
    Result<auth::NewMerchantKey> key =
        auth::CreateMerchantKey(**store, box, "m1", SystemClock()->NowMs());
    if (!key.ok()) return 1;
    auth::RequestAuthenticator authenticator(store->get(), &box, SystemClock(), {});
    const std::string body =
        R"({"merchant_id":"m1","merchant_order_id":"mo-123456","phone":"13800138000",)"
        R"("face_value":50})";

    std::vector<http::HttpRequest> signed_requests(static_cast<size_t>(requests));
    const auto sign_start = SteadyClock::now();
    for (http::HttpRequest& request : signed_requests) {
      for (auto& [name, value] :
           auth::SignatureHeaders(key->key_id, key->secret, "POST", "/v1/orders", body,
                                  SystemClock()->NowMs() / 1000, auth::NewNonce())) {
        request.headers.emplace(name, std::move(value));
      }
    }
    const double sign_s = std::chrono::duration<double>(SteadyClock::now() - sign_start).count();
    for (http::HttpRequest& request : signed_requests) {
      // The server lower-cases header names.
      std::map<std::string, std::string> lower;
      for (auto& [name, value] : request.headers) {
        std::string lowered = name;
        for (char& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        lower.emplace(std::move(lowered), std::move(value));
      }
      request.headers = std::move(lower);
      request.method = "POST";
      request.target = request.path = "/v1/orders";
      request.body = body;
    }
    if (!authenticator.Authenticate(signed_requests.front()).ok()) return 1;  // caches the key
    int refused = 0;
    const auto verify_start = SteadyClock::now();
    for (size_t i = 1; i < signed_requests.size(); ++i) {
      std::optional<Result<std::string>> merchant =
          authenticator.TryAuthenticateCached(signed_requests[i]);
      if (!merchant.has_value() || !merchant->ok()) refused++;
    }
    const double verify_s =
        std::chrono::duration<double>(SteadyClock::now() - verify_start).count();
    std::cout << requests << " requests: signing " << sign_s * 1e6 / requests
              << " us each (client), checking " << verify_s * 1e6 / (requests - 1)
              << " us each (server, cached key)" << (refused ? ", SOME REFUSED" : "") << "\n";
    exit_code = refused == 0 ? 0 : 1;
  }
  std::filesystem::remove_all(dir);
  return exit_code;
}
