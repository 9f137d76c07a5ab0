// The routes of `topup serve`: which handler answers which path.
#pragma once

#include "api/admin_api.h"
#include "api/merchant_api.h"
#include "engine/supplier_callback_route.h"
#include "http/router.h"
#include "observe/ops_endpoints.h"

namespace topup::cli {

struct ServeHandlers {
  const observe::OpsEndpoints* ops;  // /metrics, /healthz, /readyz
  api::AdminApi* admin;              // /v1/admin/...
  SupplierCallbackRoute* callbacks;  // /v1/supplier-callbacks/...
  api::MerchantApi* merchant;        // /v1/orders..., /v1/balance, /v1/ledger
};

// The handlers must outlive the router.
http::Router ServeRoutes(const ServeHandlers& handlers);

}  // namespace topup::cli
