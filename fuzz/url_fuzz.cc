// libFuzzer target: URL parsing (notify_url, topup call). What it accepts has a host, a port and
// a target that starts with '/', and holds no control character, space or non-ASCII byte.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/url.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  topup::Result<topup::Url> url = topup::ParseUrl(text);
  if (!url.ok()) return 0;
  if (url->host.empty() || url->port == 0 || !url->target.starts_with('/')) std::abort();
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7f) std::abort();
  }
  return 0;
}
