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

#include "core/work_pool.h"
#include "engine/supplier_callbacks.h"
#include "http/http_server.h"
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
  std::string admin_token;          // empty: admin endpoints answer 403
  size_t store_threads = 32;        // blocking store calls run on these
  size_t store_queue_max = 20'000;  // beyond this many waiting calls, answer 503
};

class OrderApi {
 public:
  // The pointers must outlive the OrderApi.
  // `callbacks` may be null: callbacks are then answered 404.
  OrderApi(Store* store, Queue* queue, Clock* clock, Random* random, OrderApiOptions options,
           SupplierCallbacks* callbacks = nullptr);

  // An HttpHandler: never blocks the calling I/O thread.
  void Handle(http::HttpRequest request, http::Responder respond);

 private:
  // Runs on a store thread.
  http::HttpResponse Route(const http::HttpRequest& request);
  http::HttpResponse CreateOrder(const http::HttpRequest& request);
  http::HttpResponse RouteAdmin(const http::HttpRequest& request);
  http::HttpResponse SupplierCallback(const http::HttpRequest& request, std::string channel);

  Store* const store_;
  Queue* const queue_;
  Clock* const clock_;
  Random* const random_;
  SupplierCallbacks* const callbacks_;
  const OrderApiOptions options_;
  WorkPool store_pool_;
};

}  // namespace topup::api
