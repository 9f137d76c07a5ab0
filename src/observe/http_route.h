// HttpRouteLabel: the route template of a request path, for metric labels. Ids in the path are
// replaced by their placeholder, so a label's values stay few however many orders there are.
#pragma once

#include <string_view>

namespace topup::observe {

// E.g. "/v1/orders/T1234/events" -> "/v1/orders/{order_id}/events"; a path no route knows
// -> "other". The result has static storage.
std::string_view HttpRouteLabel(std::string_view path);

}  // namespace topup::observe
