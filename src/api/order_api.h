// OrderApi: the merchant HTTP API (and its admin part) on top of a Store and a Queue.
//
//   POST /v1/orders                       accept an order (201 new, 200 same request again)
//   GET  /v1/orders/{order_id}            one order
//   GET  /v1/orders/{order_id}/events     its history
//   GET  /v1/orders?merchant_id=&merchant_order_id=
//   GET  /healthz
//   POST /v1/supplier-callbacks/{channel}  signed supplier reports (engine/supplier_callbacks.h)
//   Admin (header "Authorization: Bearer <admin token>"; disabled without a token):
//   POST /v1/admin/merchants              {"merchant_id", "name"}
//   POST /v1/admin/merchants/{id}/fund    {"amount_fen", "note"?}
//   GET  /v1/admin/merchants/{id}
//   GET  /v1/admin/audit                  the ledger audit
//
// Errors are JSON {"code", "message"} with a 4xx/5xx status. An order is acknowledged only after
// the transaction that stored it and debited the merchant has committed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <condition_variable>
#include <mutex>

#include "api/batch_publisher.h"
#include "core/work_pool.h"
#include "engine/supplier_callbacks.h"
#include "http/http_server.h"
#include "observe/metrics.h"
#include "topup/clock.h"
#include "topup/queue.h"
#include "topup/random.h"
#include "topup/store.h"

namespace topup::api {

struct OrderApiOptions {
  int64_t deadline_ms = 180'000;  // promise: final within this long of acceptance
  // Accepted ids go straight to the queue; the sweeper re-publishes one only if no worker has
  // taken it up after this long.
  int64_t redeliver_after_ms = 5'000;
  std::string admin_token;  // empty: admin endpoints answer 403
  // Reads and admin calls block on the store, so they run on these threads; order creation does
  // not (Store::AcceptOrderAsync).
  size_t store_threads = 8;
  size_t store_queue_max = 20'000;      // beyond this many waiting calls, answer 503
  observe::Metrics* metrics = nullptr;  // optional: told of every order the store answered
};

class OrderApi {
 public:
  // The pointers must outlive the OrderApi.
  // `callbacks` may be null: callbacks are then answered 404.
  OrderApi(Store* store, Queue* queue, Clock* clock, Random* random, OrderApiOptions options,
           SupplierCallbacks* callbacks = nullptr);
  // Waits for the answers of the accepts under way.
  ~OrderApi();

  // An HttpHandler: never blocks the calling I/O thread.
  void Handle(http::HttpRequest request, http::Responder respond);

 private:
  // Validates on the calling thread, then answers from the store's thread once the order is
  // durable (or refused).
  void CreateOrder(const http::HttpRequest& request, http::Responder respond);
  // Runs on a store thread.
  http::HttpResponse Route(const http::HttpRequest& request);
  http::HttpResponse RouteAdmin(const http::HttpRequest& request);
  http::HttpResponse SupplierCallback(const http::HttpRequest& request, std::string channel);

  Store* const store_;
  Clock* const clock_;
  Random* const random_;
  SupplierCallbacks* const callbacks_;
  const OrderApiOptions options_;
  BatchPublisher publisher_;

  std::mutex accepts_mu_;
  std::condition_variable accepts_done_;
  int accepts_under_way_ = 0;  // GUARDED_BY(accepts_mu_)

  WorkPool store_pool_;  // last: its threads stop first
};

}  // namespace topup::api
