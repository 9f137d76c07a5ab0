// Graceful shutdown for long-running subcommands.
#pragma once

namespace topup::cli {

// Blocks SIGINT and SIGTERM in the calling thread and in every thread it starts afterwards.
// Call before starting threads.
void BlockTerminationSignals();
// Waits until SIGINT or SIGTERM arrives. REQUIRES: BlockTerminationSignals() was called.
int WaitForTerminationSignal();

}  // namespace topup::cli
