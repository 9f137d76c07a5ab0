// libFuzzer target: the mapping of a supplier's answers to outcomes (a supplier is untrusted
// input). The first two bytes choose the HTTP status, the third whether it answers a submit or a
// query; the rest is the body. Besides not crashing, the mapping must keep its promises: a submit
// never reads as not_found, and an answer the protocol does not define never reads as success.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "engine/supplier_answer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  topup::http::HttpResponse response;
  response.status = 100 + (data[0] << 8 | data[1]) % 500;
  response.content_type = "application/json";
  response.body.assign(reinterpret_cast<const char*>(data + 3), size - 3);
  const bool submit = data[2] % 2 == 0;
  const topup::SupplierAnswer answer =
      submit ? topup::SubmitAnswer(response) : topup::QueryAnswer(response);
  if (submit && answer.outcome == topup::SupplierOutcome::kNotFound) std::abort();
  if (answer.outcome == topup::SupplierOutcome::kSuccess &&
      (response.status >= 400 || response.body.find("success") == std::string::npos)) {
    std::abort();
  }
  if (response.status >= 500 && answer.outcome != topup::SupplierOutcome::kUnknown) std::abort();
  return 0;
}
