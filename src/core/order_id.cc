#include "core/order_id.h"

namespace topup {

std::string NewOrderId(int64_t now_ms, Random& random) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(22, '0');
  uint64_t time_part = static_cast<uint64_t>(now_ms);
  for (int i = 11; i >= 0; --i, time_part >>= 4) id[i] = kHex[time_part & 0xf];
  uint64_t random_part = random.NextU64();
  for (int i = 21; i >= 12; --i, random_part >>= 4) id[i] = kHex[random_part & 0xf];
  return id;
}

}  // namespace topup
