// The open-file limit: every supplier connection, merchant connection and database file is one.
#pragma once

#include <cstdint>

namespace topup::process {

// Raises this process's soft limit on open files (RLIMIT_NOFILE) to its hard limit, so that tens
// of thousands of connections fit. Returns the soft limit in force afterwards.
int64_t RaiseOpenFileLimit();

}  // namespace topup::process
