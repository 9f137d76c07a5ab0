// Message signatures for supplier callbacks: HMAC-SHA256, compared in constant time.
#pragma once

#include <string>
#include <string_view>

namespace topup {

// Lower-case hex of HMAC-SHA256(key, message).
std::string HmacSha256Hex(std::string_view key, std::string_view message);

// Compares without an early exit, so timing does not reveal how much of a guess was right.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace topup
