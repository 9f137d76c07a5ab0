// Order ids: unique across processes and sortable by acceptance time.
#pragma once

#include <cstdint>
#include <string>

#include "topup/random.h"

namespace topup {

// 12 hex digits of the millisecond timestamp followed by 10 random hex digits (40 bits), e.g.
// "0193a1b2c3d4e5f6a7b8c9". Lexicographic order is time order.
std::string NewOrderId(int64_t now_ms, Random& random);

}  // namespace topup
