// OpsEndpoints: the operator's endpoints on the merchant API's server.
//
//   GET /metrics   every figure of Metrics, in the Prometheus text format
//   GET /healthz   200 while the process serves HTTP at all (liveness)
//   GET /readyz    200 {"status":"ready"}, or 503 {"status":"not_ready","reasons":[...]}
#pragma once

#include <optional>

#include "http/http_message.h"
#include "observe/metrics.h"
#include "observe/readiness.h"

namespace topup::observe {

class OpsEndpoints {
 public:
  // The pointers must outlive this object; either may be null (its endpoint then answers 404).
  OpsEndpoints(const Metrics* metrics, const Readiness* readiness)
      : metrics_(metrics), readiness_(readiness) {}

  // The answer to `request` if it is one of the endpoints above; nullopt for any other path.
  // Cheap enough for an I/O thread: no store call.
  std::optional<http::HttpResponse> Answer(const http::HttpRequest& request) const;

 private:
  const Metrics* const metrics_;
  const Readiness* const readiness_;
};

}  // namespace topup::observe
