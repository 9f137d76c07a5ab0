// The standard process_* figures of the Prometheus client libraries, read from /proc/self at
// scrape time: CPU seconds, resident and virtual memory, open file descriptors, threads, start
// time.
#pragma once

#include "observe/metrics.h"

namespace topup::observe {

// Registers them on `metrics`. On a system without /proc they read 0.
void AddProcessFigures(Metrics* metrics);

}  // namespace topup::observe
