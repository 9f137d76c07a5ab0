// DashboardRoutes: the JSON the operator dashboard (/ui) reads, behind the admin gate:
//
//   GET /v1/admin/dashboard          orders by state and notifications by state (the store's, at
//                                    the last sample), the last 15 minutes as a series (orders
//                                    accepted and finished per second, mean acceptance-to-final
//                                    latency), per-channel health, and the open orders nearest
//                                    their deadline
//   GET /v1/admin/search?q=          orders whose order id, merchant order id (any merchant) or
//                                    phone (orders created in the last 24 h) is q
//   GET /v1/admin/orders/{order_id}  the order and its events (each attempt is one of them)
//
// Figures come from what exists: DashboardSampler's samples, Metrics (breakers, attempts in
// flight, channel limits, supplier latencies, orders finished by channel), and store reads.
#pragma once

#include <optional>

#include "http/http_message.h"
#include "observe/dashboard_sampler.h"
#include "observe/metrics.h"
#include "topup/clock.h"
#include "topup/store.h"

namespace topup::api {

class DashboardRoutes {
 public:
  // The pointers must outlive this.
  DashboardRoutes(Store* store, Clock* clock, const observe::DashboardSampler* sampler,
                  const observe::Metrics* metrics)
      : store_(store), clock_(clock), sampler_(sampler), metrics_(metrics) {}

  // The answer for a route of this file, or nullopt when the request is not one. Blocks on the
  // store. REQUIRES: the admin gate let the request pass.
  std::optional<http::HttpResponse> Answer(const http::HttpRequest& request) const;

 private:
  http::HttpResponse Dashboard() const;
  http::HttpResponse Search(const http::HttpRequest& request) const;
  http::HttpResponse OrderHistory(const std::string& order_id) const;

  Store* const store_;
  Clock* const clock_;
  const observe::DashboardSampler* const sampler_;
  const observe::Metrics* const metrics_;
};

}  // namespace topup::api
