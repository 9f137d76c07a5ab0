// libFuzzer target: signature canonicalisation and verification. The input is split at the
// first four newlines into method, target, timestamp, nonce and body; a signature must verify
// only for exactly what was signed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "auth/constant_time.h"
#include "auth/request_signature.h"
#include "http/http_message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view parts[5];
  for (int i = 0; i < 4; ++i) {
    const size_t newline = input.find('\n');
    if (newline == std::string_view::npos) return 0;
    parts[i] = input.substr(0, newline);
    input.remove_prefix(newline + 1);
  }
  parts[4] = input;
  constexpr std::string_view kSecret =
      "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
  const std::string signature =
      topup::auth::RequestSignature(kSecret, parts[0], parts[1], parts[2], parts[3], parts[4]);
  if (signature.size() != 64) std::abort();
  // The same request verifies; any change of the body does not.
  const std::string again =
      topup::auth::RequestSignature(kSecret, parts[0], parts[1], parts[2], parts[3], parts[4]);
  if (!topup::auth::SecretsEqual(signature, again)) std::abort();
  const std::string changed = std::string(parts[4]) + "x";
  if (topup::auth::SecretsEqual(
          signature, topup::auth::RequestSignature(kSecret, parts[0], parts[1], parts[2], parts[3],
                                                   changed))) {
    std::abort();
  }
  (void)topup::auth::IsValidNonce(parts[3]);
  std::string path;
  std::map<std::string, std::string> query;
  topup::http::ParseTarget(parts[1], &path, &query);
  if (path.size() > parts[1].size()) std::abort();
  return 0;
}
