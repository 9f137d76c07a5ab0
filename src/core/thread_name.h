// Names the calling thread (as `top -H` and debuggers show it). Names longer than 15 bytes are
// cut, which is the kernel's limit.
#pragma once

#include <string_view>

namespace topup {

void SetThreadName(std::string_view name);

}  // namespace topup
