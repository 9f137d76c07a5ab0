// Comparison of secrets (tokens, signatures) whose timing reveals nothing about them.
#pragma once

#include <string_view>

namespace topup::auth {

// Compares the SHA-256 digests of both in constant time, so neither where they first differ nor
// whether their lengths differ shows in the timing.
bool SecretsEqual(std::string_view a, std::string_view b);

}  // namespace topup::auth
