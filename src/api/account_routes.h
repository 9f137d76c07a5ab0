// AccountRoutes: what a merchant reads of its account and what an operator reads and re-sends.
//
//   Merchant (signed; the key decides the merchant):
//   GET  /v1/balance                         {balance_fen, held_fen}
//   GET  /v1/ledger?cursor=&limit=           its statement, oldest first
//   GET  /v1/orders?status=&from=&to=&cursor=&limit=   its orders, paged
//   POST /v1/orders/{order_id}/notifications/resend    asks for its notification again
//   Admin:
//   GET  /v1/admin/merchants?cursor=&limit=
//   GET  /v1/admin/orders?merchant_id=&status=&from=&to=&cursor=&limit=
//   GET  /v1/admin/orders/{order_id}/notifications     each with its tries
//   POST /v1/admin/notifications/{notification_id}/resend
//
// from and to are unix milliseconds of creation (from inclusive, to exclusive). A page holds at
// most `limit` rows (default 100, at most 1,000); next_cursor is null on the last page.
#pragma once

#include <optional>
#include <string>

#include "http/http_message.h"
#include "topup/clock.h"
#include "topup/store.h"

namespace topup::api {

class AccountRoutes {
 public:
  // The pointers must outlive this. Calls block on the store: run them on a store thread.
  AccountRoutes(Store* store, Clock* clock) : store_(store), clock_(clock) {}

  // The answer for a merchant route of this file, or nullopt when the request is not one.
  // REQUIRES: the request was signed by a key of `merchant_id`.
  std::optional<http::HttpResponse> Merchant(const http::HttpRequest& request,
                                             const std::string& merchant_id);
  // The same for an admin route. REQUIRES: the admin token was checked.
  std::optional<http::HttpResponse> Admin(const http::HttpRequest& request);

 private:
  http::HttpResponse Orders(const http::HttpRequest& request, const std::string& merchant_id);
  http::HttpResponse Notifications(const std::string& order_id);
  http::HttpResponse Resend(int64_t notification_id);

  Store* const store_;
  Clock* const clock_;
};

}  // namespace topup::api
