// Which carrier issued a mainland mobile number, from its number segment.
#pragma once

#include <string_view>

#include "topup/order.h"

namespace topup {

// REQUIRES: phone passed ValidateOrderRequest. Returns kUnknown for segments not in the table.
Carrier CarrierOfPhone(std::string_view phone);

}  // namespace topup
