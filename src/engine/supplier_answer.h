// How the answers of a supplier speaking protocol v1 (see http_supplier_channel.h) map to
// outcomes. A supplier is untrusted input: whatever it sends maps to some outcome, and anything
// unreadable to kUnknown (the attempt is then queried, never resent).
#pragma once

#include "http/http_message.h"
#include "topup/status.h"
#include "topup/supplier_channel.h"

namespace topup {

// The answer to a submit: its HTTP exchange, or why there was none.
SupplierAnswer SubmitAnswer(const Result<http::HttpResponse>& response);
// The answer to a query of an attempt.
SupplierAnswer QueryAnswer(const Result<http::HttpResponse>& response);

}  // namespace topup
