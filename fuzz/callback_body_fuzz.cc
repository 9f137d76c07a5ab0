// libFuzzer target: the body of a supplier's callback (untrusted input, once signed). Besides not
// crashing, whatever parses names an attempt and says success, failed or processing.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "engine/callback_body.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const topup::Result<topup::CallbackBody> parsed = topup::ParseCallbackBody(body);
  if (!parsed.ok()) {
    if (parsed.status().reason() != "malformed_callback") std::abort();
    return 0;
  }
  const topup::SupplierOutcome outcome = parsed->answer.outcome;
  if (!parsed->processing && outcome != topup::SupplierOutcome::kSuccess &&
      outcome != topup::SupplierOutcome::kFailed) {
    std::abort();
  }
  return 0;
}
