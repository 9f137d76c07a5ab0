// MerchantApi: the merchant HTTP API on top of a Store and a Queue. Every route is signed
// (auth/request_signature.h); the key decides the merchant:
//
//   POST /v1/orders                       accept an order (201 new, 200 same request again)
//   GET  /v1/orders/{order_id}            one of the merchant's orders
//   GET  /v1/orders/{order_id}/events     its history
//   GET  /v1/orders?merchant_order_id=    (merchant_id= may be given; it must be the key's)
//   and the merchant routes of api/account_routes.h (balance, ledger, order lists, resend)
//
// Another merchant's order answers 404 order_not_found, as an absent one does, so order ids leak
// nothing; an order whose body names another merchant answers 403 merchant_mismatch.
//
// Errors are JSON {"code", "message"} with a 4xx/5xx status. An order is acknowledged only after
// the transaction that stored it and debited the merchant has committed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <condition_variable>
#include <mutex>

#include "api/account_routes.h"
#include "api/batch_publisher.h"
#include "api/merchant_rate_limiter.h"
#include "auth/request_authenticator.h"
#include "auth/secret_box.h"
#include "core/work_pool.h"
#include "http/http_server.h"
#include "observe/metrics.h"
#include "topup/clock.h"
#include "topup/queue.h"
#include "topup/random.h"
#include "topup/store.h"

namespace topup::api {

struct MerchantApiOptions {
  int64_t deadline_ms = 180'000;  // promise: final within this long of acceptance
  // Accepted ids go straight to this process's engine (hand_off) or to the queue; the sweeper
  // publishes one again only if no worker has taken it up after this long.
  int64_t redeliver_after_ms = 5'000;
  // Reads block on the store, so they run on these threads; order creation does not
  // (Store::AcceptOrderAsync).
  size_t store_threads = 8;
  size_t store_queue_max = 20'000;  // beyond this many waiting calls, answer 503
  auth::RequestAuthenticatorOptions auth;
  // Signed requests per merchant: beyond it, 429 rate_limited with Retry-After.
  RateLimit merchant_rate;                          // default: no limit
  std::map<std::string, RateLimit> merchant_rates;  // per merchant id, overriding the default
  observe::Metrics* metrics = nullptr;  // optional: told of every order the store answered
  // Off: a notify_url naming a loopback, private, link-local or multicast address (or
  // "localhost") is refused with 400 invalid_notify_url (core/notify_address.h).
  bool notify_allow_private = false;
  // Optional: offered each new order, as its accept committed it, once it is durable, before the
  // queue (Engine::HandOff). Returns whether this process's engine took it; if not, the id is
  // published.
  std::function<bool(const Order& accepted)> hand_off;
};

class MerchantApi {
 public:
  // The pointers must outlive the MerchantApi. Merchant key secrets are opened with `secret_box`.
  MerchantApi(Store* store, Queue* queue, Clock* clock, Random* random,
              const auth::SecretBox* secret_box, MerchantApiOptions options);
  // Runs the store tasks already posted, then waits for the answers of the accepts under way.
  ~MerchantApi();

  // An HttpHandler for the routes above: never blocks the calling I/O thread.
  void Handle(http::HttpRequest request, http::Responder respond);

  // Drops what is cached of a key, so that a revoked one is refused from the next request on.
  void ForgetKey(const std::string& key_id) { authenticator_.Forget(key_id); }

 private:
  // Validates on the calling thread, then answers from the store's thread once the order is
  // durable (or refused).
  // REQUIRES: the request was signed by a key of `merchant_id`.
  void CreateOrder(const http::HttpRequest& request, const std::string& merchant_id,
                   http::Responder respond);
  // Run on a store thread.
  http::HttpResponse Route(const http::HttpRequest& request);
  // REQUIRES: the request was signed by a key of `merchant_id`.
  http::HttpResponse RouteMerchant(const http::HttpRequest& request,
                                   const std::string& merchant_id);
  // The merchant of an authenticated request, or the answer to send instead: the
  // authentication's failure, or 429 rate_limited with Retry-After.
  struct Admission {
    std::string merchant_id;
    std::optional<http::HttpResponse> refusal;
  };
  Admission Admit(Result<std::string> merchant);

  Store* const store_;
  Clock* const clock_;
  Random* const random_;
  const MerchantApiOptions options_;
  BatchPublisher publisher_;
  auth::RequestAuthenticator authenticator_;
  MerchantRateLimiter rate_limiter_;
  AccountRoutes account_;

  std::mutex accepts_mu_;
  std::condition_variable accepts_done_;
  int accepts_under_way_ = 0;  // GUARDED_BY(accepts_mu_)

  // Reset first by the destructor: a task of it may still start an accept, which the destructor
  // then waits for.
  std::optional<WorkPool> store_pool_;
};

}  // namespace topup::api
